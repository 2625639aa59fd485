"""Small snapshots built in memory, benchmark snapshots read straight from ../shared/datasets, random models."""

from __future__ import annotations

import pytest
import torch

from kgplatform.learn.mentions import mention_pairs
from kgplatform.learn.model import LinkPredictor
from kgplatform.snapshot import Snapshot
from tests.support.env import DATASETS

TEXTS = ["anna. lives in paris", "bob. knows anna", "carl", "dora", "paris. a city", "rome", "oslo"]


def load_tsv_snapshot(name: str) -> Snapshot:
    """Benchmark folder (entities.tsv + triples_{train,valid,test}.tsv) -> Snapshot with the official splits."""
    folder = DATASETS / name
    if not folder.is_dir():
        pytest.skip(f"benchmark data not found at {folder}")
    ids, text, types, type_ids = [], [], [], {}
    for line in (folder / "entities.tsv").read_text(encoding="utf-8").splitlines():
        cols = (line.split("\t") + ["", "", ""])[:4]
        ids.append(cols[0])
        text.append(" ".join(c for c in cols[1:3] if c))
        types.append(type_ids.setdefault(cols[3], len(type_ids)))
    index, rel_ids, rows, splits = {k: i for i, k in enumerate(ids)}, {}, [], []
    for code, split in enumerate(["train", "valid", "test"]):
        for line in (folder / f"triples_{split}.tsv").read_text(encoding="utf-8").splitlines():
            h, r, t = line.split("\t")
            rows.append((index[h], rel_ids.setdefault(r, len(rel_ids)), index[t]))
            splits.append(code)
    rows_t = torch.tensor(rows)
    return Snapshot(ids, list(type_ids), torch.tensor(types), text, list(rel_ids), rows_t[:, [0, 2]].t().contiguous(),
                    rows_t[:, 1].contiguous(), torch.tensor(splits))


def tiny_snapshot() -> Snapshot:
    """People (0-3) and cities (4-6); LIVES_IN person->city, KNOWS person->person."""
    rows = torch.tensor([[0, 0, 4], [1, 0, 4], [2, 0, 5], [3, 0, 6], [0, 1, 1], [1, 1, 2], [2, 1, 3], [3, 1, 0],
                         [0, 0, 5], [1, 1, 3]])
    split = torch.tensor([0, 0, 0, 0, 0, 0, 0, 0, 1, 2])
    return Snapshot([f"n{i}" for i in range(7)], ["Person", "City"], torch.tensor([0, 0, 0, 0, 1, 1, 1]),
                    [""] * 7, ["LIVES_IN", "KNOWS"], rows[:, [0, 2]].t().contiguous(), rows[:, 1].contiguous(), split)


def tiny_text_x(snap) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.randn(snap.num_nodes, 12, generator=torch.Generator().manual_seed(1)))


def random_member(snap, cfg, text_x, seed: int) -> LinkPredictor:
    torch.manual_seed(seed)
    model = LinkPredictor(snap.num_nodes, snap.num_relations, cfg, text_x, mention_pairs(TEXTS))
    with torch.no_grad():  # move every parameter off its initial value, so members differ everywhere
        for p in model.parameters():
            p.add_(torch.randn_like(p))
    return model.eval()


class ScoreTable:
    """A model stub: score_tails from a fixed [N] score per tail, whatever the head and relation."""

    def __init__(self, per_tail: torch.Tensor):
        self.per_tail = per_tail

    def score_tails(self, z, heads, rels, tails=None):
        out = self.per_tail.expand(len(heads), -1).clone()
        return out if tails is None else out[:, tails]  # tails: one candidate set shared by every query

    def score_triples(self, z, heads, rels, tails):
        return self.per_tail[tails]
