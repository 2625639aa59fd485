"""Candidate tails from a tail index (learn/ann_candidates.py) against exhaustive scoring, on a generated graph."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kgplatform.learn.ann_candidates import CandidateSearch
from kgplatform.learn.calibrate import held_out_candidates
from kgplatform.learn.candidates import candidate_recall, query_candidates
from kgplatform.learn.config import TrainConfig
from kgplatform.learn.index import KnownTails, relation_ranges
from kgplatform.learn.mentions import contains
from kgplatform.learn.model import LinkPredictor
from kgplatform.pipeline.config import PipelineConfig
from kgplatform.snapshot import SPLIT_TEST, SPLIT_TRAIN, SPLIT_VALID, Snapshot

PRODUCTS, CATEGORIES, BRANDS = 900, 250, 150
GENEROUS = dict(mode="ann", effort=256, overfetch=8)


def catalogue() -> Snapshot:
    """Products IN categories, BY brands and WITH products; a few products with 80 WITH edges (many blocked
    tails); every tenth edge validation, every tenth test; some predicted rows excluded."""
    g = torch.Generator().manual_seed(0)
    n = PRODUCTS + CATEGORIES + BRANDS
    node_type = torch.tensor([0] * PRODUCTS + [1] * CATEGORIES + [2] * BRANDS)
    heads = torch.randint(0, PRODUCTS, (4000,), generator=g)
    rel = torch.randint(0, 3, (4000,), generator=g)
    tails = torch.where(rel == 0, PRODUCTS + torch.randint(0, CATEGORIES, (4000,), generator=g),
                        torch.where(rel == 1, torch.randint(0, PRODUCTS, (4000,), generator=g),
                                    PRODUCTS + CATEGORIES + torch.randint(0, BRANDS, (4000,), generator=g)))
    busy = torch.arange(5).repeat_interleave(80)
    rows = torch.cat([torch.stack([heads, rel, tails], 1), torch.stack([busy, torch.ones_like(busy),
                                                                        torch.randperm(PRODUCTS, generator=g)[:400]],
                                                                       1)])
    rows = torch.unique(rows[rows[:, 0] != rows[:, 2]], dim=0)
    split = torch.full((len(rows),), SPLIT_TRAIN)
    split[::10], split[5::10] = SPLIT_VALID, SPLIT_TEST
    excluded = torch.stack([torch.arange(10, 60), torch.zeros(50, dtype=torch.long),
                            PRODUCTS + torch.arange(50)], 1)
    return Snapshot([f"n{i}" for i in range(n)], ["Product", "Category", "Brand"], node_type, [""] * n,
                    ["IN", "WITH", "BY"], rows[:, [0, 2]].t().contiguous(), rows[:, 1].contiguous(), split,
                    excluded=excluded)


def random_model(snap: Snapshot, decoder: str) -> tuple[LinkPredictor, torch.Tensor]:
    """Randomly initialised, parameters moved off their start, text and name mentions on."""
    g = torch.Generator().manual_seed(1)
    n = snap.num_nodes
    text_x = torch.nn.functional.normalize(torch.randn(n, 16, generator=g))
    pairs = torch.unique(torch.randint(0, n, (2, 3000), generator=g), dim=1)  # sorted by (i, j)
    cfg = TrainConfig(decoder=decoder, dim=32, encoder="none", use_mentions=True)
    torch.manual_seed(2)
    model = LinkPredictor(n, snap.num_relations, cfg, text_x, pairs[:, pairs[0] != pairs[1]])
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.5 * torch.randn_like(p))
        model.mention_weight.fill_(0.5)  # 5 points a mention: mentioned tails must reach the top
    model.eval()
    with torch.no_grad():
        return model, model.encode(snap.edge_index, snap.edge_type)


def pairs_of(cands) -> set[tuple[int, int]]:
    return set(zip(cands.heads.tolist(), cands.tails.tolist()))


@pytest.fixture(scope="module")
def snap() -> Snapshot:
    return catalogue()


@pytest.mark.parametrize("decoder", ["distmult", "complex"])
def test_the_index_finds_the_exact_top_k_with_exact_scores(snap, decoder):
    model, z = random_model(snap, decoder)
    heads = torch.arange(PRODUCTS)
    for rel in range(snap.num_relations):
        search = CandidateSearch(**GENEROUS)
        exact = query_candidates(model, z, snap, rel, heads, k=10)
        found = query_candidates(model, z, snap, rel, heads, k=10, search=search)
        assert search.used[rel] == "ann"
        shared = pairs_of(exact) & pairs_of(found)
        assert len(shared) >= 0.99 * len(exact)
        exact_score = dict(zip(zip(exact.heads.tolist(), exact.tails.tolist()), exact.scores.tolist()))
        found_score = dict(zip(zip(found.heads.tolist(), found.tails.tolist()), found.scores.tolist()))
        assert np.allclose([exact_score[p] for p in shared], [found_score[p] for p in shared], atol=1e-4)
        assert np.array_equal(np.unique(found.heads), np.unique(exact.heads))  # heads in input order, best first
        assert np.all(np.diff(found.heads) >= 0)
        for h in np.unique(found.heads)[:50]:
            row = found.scores[found.heads == h]
            assert np.all(np.diff(row) <= 0) and np.array_equal(found.rank[found.heads == h], np.arange(len(row)))
        assert np.all(found.gap_to_best <= 0) and np.all(found.log_softmax <= 0)


def test_mentioned_tails_are_candidates_even_when_the_index_misses_them(snap):
    model, z = random_model(snap, "distmult")
    with torch.no_grad():
        model.mention_weight.fill_(5.0)  # 50 points: every mentioned, valid tail belongs in the top k
    heads = torch.arange(PRODUCTS)
    exact = query_candidates(model, z, snap, 1, heads, k=10)
    found = query_candidates(model, z, snap, 1, heads, k=10, search=CandidateSearch(mode="ann", overfetch=1))
    h, t = torch.from_numpy(exact.heads), torch.from_numpy(exact.tails)
    named = contains(model.mentions, h, t, snap.num_nodes) | contains(model.mentioned_by, h, t, snap.num_nodes)
    assert named.sum() > 1000
    mentioned = {p for p, m in zip(zip(exact.heads.tolist(), exact.tails.tolist()), named.tolist()) if m}
    assert mentioned <= pairs_of(found)


@pytest.mark.parametrize("decoder", ["distmult", "complex"])
def test_candidates_are_never_blocked_the_head_or_outside_the_range(snap, decoder):
    model, z = random_model(snap, decoder)
    extra = torch.tensor([[0, 1, 7], [1, 1, 8]])
    known = {tuple(r) for r in torch.cat([snap.triples(), snap.excluded, extra]).tolist()}
    allowed = relation_ranges(snap, splits=None)
    for rel in range(snap.num_relations):
        found = query_candidates(model, z, snap, rel, torch.arange(PRODUCTS), k=20, exclude=extra,
                                 search=CandidateSearch(mode="ann", overfetch=2))
        assert len(found) > 0
        assert not any((h, rel, t) in known for h, t in pairs_of(found))
        assert not np.any(found.heads == found.tails)
        assert allowed[rel, torch.from_numpy(found.tails)].all()
        assert np.all(found.rels == rel)
    busy = query_candidates(model, z, snap, 1, torch.arange(5), k=10, search=CandidateSearch(mode="ann"))
    assert np.all(np.bincount(busy.heads) == 10)  # 80 known tails each, still k new ones


def test_auto_is_exact_on_a_small_graph_and_rotate_stays_exact(snap):
    model, z = random_model(snap, "complex")
    assert PipelineConfig().candidate_search == "auto"
    search = CandidateSearch(mode="auto")
    heads = torch.arange(100)
    auto = query_candidates(model, z, snap, 0, heads, k=5, search=search)
    exact = query_candidates(model, z, snap, 0, heads, k=5)
    assert search.used == {0: "exact"}
    assert np.array_equal(auto.tails, exact.tails) and np.array_equal(auto.log_softmax, exact.log_softmax)
    low = CandidateSearch(mode="auto", min_ann_tails=10)
    query_candidates(model, z, snap, 0, heads, k=5, search=low)
    assert low.used == {0: "ann"}
    rotate, rz = random_model(snap, "rotate")
    forced = CandidateSearch(mode="ann")
    assert np.array_equal(query_candidates(rotate, rz, snap, 0, heads, k=5, search=forced).tails,
                          query_candidates(rotate, rz, snap, 0, heads, k=5).tails)
    assert forced.used[0].startswith("exact")


def test_validation_candidates_follow_the_same_search(snap):
    model, z = random_model(snap, "distmult")
    known = (SPLIT_TRAIN, SPLIT_TEST)
    search = CandidateSearch(**GENEROUS)
    exact, exact_labels = held_out_candidates(model, z, snap, k=10, known_splits=known)
    found, labels = held_out_candidates(model, z, snap, k=10, known_splits=known, search=search)
    assert search.used == {0: "ann", 1: "ann", 2: "ann"}
    assert len(pairs_of(exact) & pairs_of(found)) >= 0.99 * len(exact)
    assert abs(int(labels.sum()) - int(exact_labels.sum())) <= 0.01 * len(exact) + 1
    rows = snap.triples()
    is_known = torch.isin(snap.edge_split, torch.tensor(known))
    truth = KnownTails(rows[~is_known], snap.num_nodes, snap.num_relations)
    blocked = KnownTails(torch.cat([rows[is_known], snap.excluded]), snap.num_nodes, snap.num_relations)
    h, r, t = (torch.from_numpy(c) for c in (found.heads, found.rels, found.tails))
    assert np.array_equal(labels, truth.contains(h, r, t).long().numpy())
    assert not blocked.contains(h, r, t).any()


def test_candidate_recall_of_a_generous_search_is_one(snap):
    model, z = random_model(snap, "complex")
    recall = candidate_recall(model, z, snap, 2, torch.arange(0, PRODUCTS, 3), k=10,
                              search=CandidateSearch(effort=256, overfetch=8))
    assert recall >= 0.99
