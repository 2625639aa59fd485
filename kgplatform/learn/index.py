"""Lookups shared by training, evaluation and candidate generation: relation type ranges and known tails."""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
from torch import Tensor

from kgplatform.snapshot import SPLIT_TRAIN, Snapshot


def both_directions(triples: Tensor, num_relations: int) -> Tensor:
    """(h, r, t) rows plus their reciprocals (t, r + R, h): every query becomes a tail query."""
    inv = torch.stack([triples[:, 2], triples[:, 1] + num_relations, triples[:, 0]], dim=1)
    return torch.cat([triples, inv])


def relation_ranges(snapshot: Snapshot, splits: Iterable[int] | None = (SPLIT_TRAIN,)) -> Tensor:
    """Bool [2R, N]: entity n is a type-valid tail of relation r (r >= R: head of r - R).

    A relation's range is the set of node types seen as its tails in the given splits (None = all edges).
    A relation with no such edges gets every entity, so it never becomes impossible to predict.
    """
    r2, n = 2 * snapshot.num_relations, snapshot.num_nodes
    rows = snapshot.triples()
    if splits is not None:
        keep = torch.isin(snapshot.edge_split, torch.tensor(list(splits), dtype=torch.long))
        rows = rows[keep]
    rows = both_directions(rows, snapshot.num_relations)
    num_types = max(len(snapshot.type_names), int(snapshot.node_type.max()) + 1 if n else 0)
    seen = torch.zeros(r2, max(num_types, 1), dtype=torch.bool)
    seen[rows[:, 1], snapshot.node_type[rows[:, 2]]] = True
    allowed = seen[:, snapshot.node_type]
    allowed[~seen.any(dim=1)] = True
    return allowed


class KnownTails:
    """All true tails of each (head, rel) query for rel in [0, 2R), as a sorted key array (CSR-like).

    ``mask(heads, rels)`` gives a bool [B, N] of known tails for a batch without Python loops.
    """

    def __init__(self, triples: Tensor, num_nodes: int, num_relations: int):
        rows = both_directions(triples, num_relations)
        self.num_nodes, self.r2 = num_nodes, 2 * num_relations
        keys = rows[:, 0] * self.r2 + rows[:, 1]
        order = torch.argsort(keys * num_nodes + rows[:, 2])
        self.keys, self.tails = keys[order], rows[order, 2]

    def to(self, device: torch.device | str) -> "KnownTails":
        """The same lookup with its arrays on ``device``: masks are then built there, beside the scores."""
        out = copy.copy(self)
        out.keys, out.tails = self.keys.to(device), self.tails.to(device)
        return out

    def _ranges(self, heads: Tensor, rels: Tensor) -> tuple[Tensor, Tensor]:
        heads, rels = heads.to(self.keys.device), rels.to(self.keys.device)
        q = heads * self.r2 + rels
        return torch.searchsorted(self.keys, q), torch.searchsorted(self.keys, q, right=True)

    def counts(self, heads: Tensor, rels: Tensor) -> Tensor:
        """Known tails of each query [B]."""
        start, end = self._ranges(heads, rels)
        return end - start

    def mask(self, heads: Tensor, rels: Tensor, columns: Tensor | None = None) -> Tensor:
        """Bool [B, N] of known tails; with ``columns`` (node ids [C]) only those nodes' columns, [B, C], so a
        relation whose range is a few thousand brands never builds a row per entity."""
        start, end = self._ranges(heads, rels)
        count, device = end - start, self.keys.device
        row = torch.repeat_interleave(torch.arange(len(heads), device=device), count)
        offset = torch.arange(int(count.sum()), device=device) - torch.repeat_interleave(count.cumsum(0) - count, count)
        tails = self.tails[torch.repeat_interleave(start, count) + offset]
        if columns is None:
            out = torch.zeros(len(heads), self.num_nodes, dtype=torch.bool, device=device)
            out[row, tails] = True
            return out
        columns = columns.to(device)
        position = torch.full((self.num_nodes,), -1, dtype=torch.long, device=device)
        position[columns] = torch.arange(len(columns), device=device)
        col = position[tails]
        out = torch.zeros(len(heads), len(columns), dtype=torch.bool, device=device)
        out[row[col >= 0], col[col >= 0]] = True
        return out

    def contains(self, heads: Tensor, rels: Tensor, tails: Tensor) -> Tensor:
        """Bool [B]: (heads[b], rels[b], tails[b]) is known (on the lookup's device)."""
        if len(self.keys) == 0:
            return torch.zeros(len(heads), dtype=torch.bool, device=self.keys.device)
        heads, rels, tails = (x.to(self.keys.device) for x in (heads, rels, tails))
        full = self.keys * self.num_nodes + self.tails
        q = (heads * self.r2 + rels) * self.num_nodes + tails
        pos = torch.searchsorted(full, q).clamp(max=len(full) - 1)
        return full[pos] == q


def train_edges(snapshot: Snapshot) -> tuple[Tensor, Tensor]:
    """Message-passing edges for evaluation and scoring of a trained model: the train split only."""
    keep = snapshot.edge_split == SPLIT_TRAIN
    return snapshot.edge_index[:, keep], snapshot.edge_type[keep]
