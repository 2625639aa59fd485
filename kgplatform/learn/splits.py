"""Deterministic per-relation valid/test splits for snapshots whose store did not say which edge is which."""

from __future__ import annotations

import dataclasses

import torch

from kgplatform.snapshot import SPLIT_NONE, SPLIT_TEST, SPLIT_TRAIN, SPLIT_VALID, Snapshot


def needs_splits(snapshot: Snapshot) -> bool:
    """True when there is no validation edge to early-stop on (all SPLIT_NONE, or no SPLIT_VALID)."""
    return not bool((snapshot.edge_split == SPLIT_VALID).any())


def assign_splits(
    snapshot: Snapshot, valid_ratio: float = 0.05, test_ratio: float = 0.05, seed: int = 0
) -> Snapshot:
    """A copy of the snapshot whose SPLIT_NONE edges are split into train/valid/test, per relation.

    Edges that already have a split keep it. Per relation, floor(ratio * n) of its unsplit edges are held out, so
    a relation with very few edges stays in train. An edge is only held out if both its endpoints keep at least
    one train edge, so every valid/test entity is seen in training (transductive, as the scorer needs).
    """
    if not (0 <= valid_ratio and 0 <= test_ratio and valid_ratio + test_ratio < 1):
        raise ValueError(f"assign_splits: need 0 <= valid_ratio, test_ratio and sum < 1, "
                         f"got {valid_ratio}, {test_ratio}")
    gen = torch.Generator().manual_seed(seed)
    split = snapshot.edge_split.clone()
    unsplit = split == SPLIT_NONE
    split[unsplit] = SPLIT_TRAIN
    src, dst = snapshot.edge_index
    train_deg = torch.bincount(torch.cat([src[split == SPLIT_TRAIN], dst[split == SPLIT_TRAIN]]),
                               minlength=snapshot.num_nodes)

    wanted = []  # (edge id, target split), decided per relation in a seeded random order
    for rel in range(snapshot.num_relations):
        edges = torch.nonzero(unsplit & (snapshot.edge_type == rel)).flatten()
        edges = edges[torch.randperm(len(edges), generator=gen)]
        n_valid, n_test = int(valid_ratio * len(edges)), int(test_ratio * len(edges))
        wanted += [(e, SPLIT_VALID) for e in edges[:n_valid].tolist()]
        wanted += [(e, SPLIT_TEST) for e in edges[n_valid:n_valid + n_test].tolist()]

    deg = train_deg.tolist()
    s, d = src.tolist(), dst.tolist()
    for e, code in wanted:
        a, b = s[e], d[e]
        if deg[a] > 1 and deg[b] > 1 and a != b:  # keep each endpoint connected in train
            deg[a] -= 1
            deg[b] -= 1
            split[e] = code
    return dataclasses.replace(snapshot, edge_split=split)
