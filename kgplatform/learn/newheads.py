"""Validation evidence for products that arrive after training (`kgp watch`, `workers.tasks.score_new`).

A new product has no learned embedding and few edges, so its candidates' scores and features are not distributed
like those of the products validation sees; thresholds fitted on the latter write nothing for it (its "head has
none" groups have no evidence) or the wrong amount. So the run also simulates arrivals on validation:

1. a seeded sample of heads with validation edges is *pretended new*: their learned embeddings are switched off
   (``LinkPredictor.has_embedding``, as learn/inductive.py does for real new nodes) and every edge touching them is
   hidden except one of their train edges, revealed, as a catalogue feed would bring a product with its category;
2. their top-k candidates of every relation of their type are labelled positive when they are hidden edges;
3. pipeline.stages fits a combiner and calibration on those candidates alone, used for new heads at write time.

Pure: a snapshot and a model in, a view of the snapshot and the heads out.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from kgplatform.learn.model import LinkPredictor
from kgplatform.snapshot import SPLIT_TRAIN, SPLIT_VALID, Snapshot

MAX_HEADS = 400


@dataclass
class SimulatedArrivals:
    heads: Tensor  # the heads pretended new
    view: Snapshot  # hidden edges are SPLIT_VALID (to find), every other edge SPLIT_TRAIN (known)
    model: LinkPredictor  # a copy with the heads' learned embeddings off
    feature_rows: Tensor  # [n, 3] the train edges that are not hidden: what the graph features may read


def simulate_arrivals(model: LinkPredictor, snapshot: Snapshot, seed: int = 0, max_heads: int = MAX_HEADS,
                      round_index: int = 0) -> SimulatedArrivals | None:
    """None when no head has both a validation edge and a train edge to reveal, or the rounds before this one
    used every such head. Rounds of one seed draw disjoint heads (slices of one seeded shuffle), so pooling
    several rounds gives more evidence while each view still hides only max_heads products."""
    rows = snapshot.triples()
    is_train = snapshot.edge_split == SPLIT_TRAIN
    with_train_edge = torch.unique(rows[is_train, 0])
    pool = torch.unique(snapshot.triples(SPLIT_VALID)[:, 0])
    pool = pool[torch.isin(pool, with_train_edge)]
    if len(pool) == 0:
        return None
    gen = torch.Generator().manual_seed(seed)
    start = round_index * max_heads
    heads = pool[torch.randperm(len(pool), generator=gen)[start:start + max_heads]].sort().values
    if len(heads) == 0:
        return None
    # one revealed train edge per head: the first of a seeded shuffle of the heads' outgoing train edges
    candidates = torch.nonzero(is_train & torch.isin(rows[:, 0], heads)).flatten()
    candidates = candidates[torch.randperm(len(candidates), generator=gen)]
    order = torch.argsort(rows[candidates, 0], stable=True)
    candidates = candidates[order]
    first = torch.ones(len(candidates), dtype=torch.bool)
    first[1:] = rows[candidates[1:], 0] != rows[candidates[:-1], 0]
    revealed = torch.zeros(len(rows), dtype=torch.bool)
    revealed[candidates[first]] = True
    touching = torch.isin(rows[:, 0], heads) | torch.isin(rows[:, 2], heads)
    hidden = touching & ~revealed
    view = replace(snapshot, edge_split=torch.where(hidden, SPLIT_VALID, SPLIT_TRAIN))
    arrived = copy.deepcopy(model)
    arrived.has_embedding[heads] = False
    return SimulatedArrivals(heads, view, arrived, rows[is_train & ~hidden])
