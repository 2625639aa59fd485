"""Validation evidence for products that arrive after training (`kgp watch`, `workers.tasks.score_new`).

A new product has no learned embedding and few edges, so its candidates' scores and features are not distributed
like those of the products validation sees; thresholds fitted on the latter write nothing for it (its "head has
none" groups have no evidence) or the wrong amount. So each run holds a few products out of training and lets
them arrive after it:

1. before training, ``draw_arrivals`` picks a seeded sample of heads with at least two outgoing train edges.
   Every train or validation edge touching them is held out of training (``training_view``), except one outgoing
   train edge per head, kept as a catalogue feed would bring a product with its category;
2. after training, ``simulate_arrivals`` switches their learned embeddings off (``LinkPredictor.has_embedding``,
   as learn/inductive.py does for real new nodes); their held-out edges are what is left to find;
3. pipeline/arrivals.py labels their top-k candidates (positive when a held-out edge) and fits a combiner and
   calibration on them alone, used for new heads at write time.

The model never trained on the edges it is then asked to find, as with a real new product. An earlier version
pretended *trained* products new: the model had learnt their hidden edges, and 100 new magazine products got
edges at precision 0.57 to 0.78 where that simulation promised 0.91 (docs/realtime.md).
The held-out heads' test edges stay in the run's test split, and are neither evidence nor labels here.

Pure: a snapshot (and a model) in, masks, a view and the heads out.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from kgplatform.learn.model import LinkPredictor
from kgplatform.snapshot import SPLIT_TEST, SPLIT_TRAIN, SPLIT_VALID, Snapshot

MAX_HEADS = 400
# A twentieth of the eligible heads, when that is at least MIN_HEADS: training loses a few percent of its edges.
HOLDOUT_SHARE = 0.05
# Below this many heads the evidence carries no threshold and the held-out edges still cost the main model:
# on amazon-magazine-2018, 79 held-out heads let no edge through at precision 0.9; on amazon-giftcards-2018,
# 70 held-out heads cut the correct edges written at 0.9 from 311 to 260. Smaller graphs hold out none.
MIN_HEADS = 200
# In the training view only: an asserted edge that training must not see. Every other stage reads the run's
# snapshot, where the edge keeps its own split (a known edge, never a candidate).
SPLIT_HELD_OUT = 3


@dataclass
class ArrivalHoldout:
    heads: Tensor  # the held-out heads, sorted
    revealed: Tensor  # bool [E]: the one outgoing train edge kept per head
    hidden: Tensor  # bool [E]: train and validation edges touching a head, not revealed: what arrivals must find
    test: Tensor  # bool [E]: test edges touching a head


@dataclass
class SimulatedArrivals:
    heads: Tensor  # the heads that arrive
    view: Snapshot  # hidden edges are SPLIT_VALID (to find); their test edges blocked; every other edge SPLIT_TRAIN
    model: LinkPredictor  # a copy with the heads' learned embeddings off
    feature_rows: Tensor  # [n, 3] the train edges that are not hidden: what the graph features may read


def draw_arrivals(snapshot: Snapshot, seed: int = 0, share: float = HOLDOUT_SHARE, min_heads: int = MIN_HEADS,
                  max_heads: int = MAX_HEADS) -> ArrivalHoldout | None:
    """The heads to hold out of training: share of those with two outgoing train edges, at most max_heads; None
    when that is fewer than min_heads."""
    rows = snapshot.triples()
    is_train = snapshot.edge_split == SPLIT_TRAIN
    sources, out_degree = torch.unique(rows[is_train, 0], return_counts=True)
    pool = sources[out_degree >= 2]  # one edge to reveal, at least one to find
    size = min(max_heads, math.ceil(share * len(pool)))
    if size == 0 or size < min_heads:
        return None
    gen = torch.Generator().manual_seed(seed)
    heads = pool[torch.randperm(len(pool), generator=gen)[:size]].sort().values
    # one revealed edge per head: the first of a seeded shuffle of the heads' outgoing train edges
    candidates = torch.nonzero(is_train & torch.isin(rows[:, 0], heads)).flatten()
    candidates = candidates[torch.randperm(len(candidates), generator=gen)]
    candidates = candidates[torch.argsort(rows[candidates, 0], stable=True)]
    first = torch.ones(len(candidates), dtype=torch.bool)
    first[1:] = rows[candidates[1:], 0] != rows[candidates[:-1], 0]
    revealed = torch.zeros(len(rows), dtype=torch.bool)
    revealed[candidates[first]] = True
    touching = torch.isin(rows[:, 0], heads) | torch.isin(rows[:, 2], heads)
    is_test = snapshot.edge_split == SPLIT_TEST
    return ArrivalHoldout(heads, revealed, touching & ~revealed & ~is_test, touching & is_test)


def training_view(snapshot: Snapshot, holdout: ArrivalHoldout | None) -> Snapshot:
    """The snapshot training reads: the held-out heads' hidden train edges marked SPLIT_HELD_OUT. Their
    validation edges stay validation edges, used for early stopping only."""
    if holdout is None:
        return snapshot
    held = holdout.hidden & (snapshot.edge_split == SPLIT_TRAIN)
    return replace(snapshot, edge_split=snapshot.edge_split.masked_fill(held, SPLIT_HELD_OUT))


def simulate_arrivals(model: LinkPredictor, snapshot: Snapshot, holdout: ArrivalHoldout) -> SimulatedArrivals:
    """The held-out heads arriving to a model trained without their hidden edges."""
    rows = snapshot.triples()
    split = torch.full_like(snapshot.edge_split, SPLIT_TRAIN)
    split[holdout.hidden] = SPLIT_VALID
    split[holdout.test] = SPLIT_TEST
    excluded = torch.cat([snapshot.excluded.view(-1, 3).long(), rows[holdout.test]])  # never candidates
    view = replace(snapshot, edge_split=split, excluded=excluded)
    arrived = copy.deepcopy(model)
    arrived.has_embedding[holdout.heads] = False
    known = (snapshot.edge_split == SPLIT_TRAIN) & ~holdout.hidden
    return SimulatedArrivals(holdout.heads, view, arrived, rows[known])
