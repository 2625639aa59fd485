"""Filtered ranking metrics (MRR, Hits@k), both directions, realistic ranks for ties.

PyG's ``KGEModel.test`` ranks unfiltered, one triple at a time, and ``torch_geometric.metrics.LinkPredMRR``
takes top-k lists without tie handling or filtering, so ranks are computed here directly.
"""

from __future__ import annotations

import torch
from torch import Tensor

from kgplatform.devices import tensor_device
from kgplatform.learn.candidates import SCORE_ELEMENTS
from kgplatform.learn.index import KnownTails, both_directions, relation_ranges, train_edges
from kgplatform.learn.minibatch import encode_all
from kgplatform.learn.model import LinkPredictor
from kgplatform.snapshot import Snapshot

HITS_AT = (1, 3, 10)


@torch.no_grad()
def ranks(
    model: LinkPredictor,
    z: Tensor,
    queries: Tensor,
    known: KnownTails | None,
    allowed: Tensor | None,
    batch_size: int = 512,
) -> Tensor:
    """Realistic rank [Q] of each query's true tail among the candidates (rows (h, r, t), r in [0, 2R)).

    known: filter every other known true tail of (h, r) (None = unfiltered). allowed: bool [2R, N] type ranges
    (None = all entities). The true tail is always a candidate, even if its type was not seen in train.
    Tied scores count half (mean of optimistic and pessimistic rank), so a constant model gets rank ~N/2.
    Ranks are computed where the model scores (pass ``known``/``allowed`` there too) and returned on the CPU.
    """
    out = []
    entities = allowed.size(1) if allowed is not None else known.num_nodes if known is not None else 0
    batch_size = max(1, min(batch_size, SCORE_ELEMENTS // max(1, entities)))  # [B, N] bounded at any N
    for chunk in queries.split(batch_size):
        scores = model.score_tails(z, *chunk[:, :2].unbind(1))
        h, r, t = chunk.to(scores.device).unbind(1)
        true = scores.gather(1, t.unsqueeze(1))
        if allowed is None:
            cand = torch.ones_like(scores, dtype=torch.bool)
        else:
            cand = allowed[r.to(allowed.device)].to(scores.device)
        if known is not None:
            cand &= ~known.mask(h, r).to(scores.device)
        cand[torch.arange(len(t), device=t.device), t] = False  # the true tail itself is counted separately below
        greater = ((scores > true) & cand).sum(1)
        equal = ((scores == true) & cand).sum(1)
        out.append((1.0 + greater.double() + equal.double() / 2).cpu())
    return torch.cat(out) if out else torch.empty(0, dtype=torch.double)


def summarize(r: Tensor) -> dict:
    if len(r) == 0:
        return {"mrr": 0.0, "hits@1": 0.0, "hits@3": 0.0, "hits@10": 0.0, "count": 0}
    res = {"mrr": float((1.0 / r).mean())}
    res.update({f"hits@{k}": float((r <= k).double().mean()) for k in HITS_AT})
    res["count"] = len(r)
    return res


def sample_triples(triples: Tensor, max_triples: int | None, seed: int = 0) -> Tensor:
    """At most max_triples rows, a seeded sample in their original order (all rows when None or enough)."""
    if max_triples is None or len(triples) <= max_triples:
        return triples
    keep = torch.randperm(len(triples), generator=torch.Generator().manual_seed(seed))[:max_triples]
    return triples[torch.sort(keep).values]


@torch.no_grad()
def rank_metrics(
    model: LinkPredictor,
    snapshot: Snapshot,
    split: int,
    message_edges: tuple[Tensor, Tensor] | None = None,
    type_constrained: bool = True,
    batch_size: int = 512,
    filtered: bool = True,
    z: Tensor | None = None,
    known: KnownTails | None = None,
    allowed: Tensor | None = None,
    max_triples: int | None = None,
) -> dict:
    """Filtered ranking metrics of the triples of one split, tail and head prediction averaged.

    message_edges: (edge_index, edge_type) to encode with; default the train split. ``count`` is the number of
    ranked queries (2 per triple). ``z``/``known``/``allowed`` may be passed in to reuse them across calls.
    max_triples: rank a fixed seeded sample of at most this many of the split's triples (the same sample on
    every call, for every model): model selection on a large validation split without ranking all of it.
    """
    was_training = model.training
    model.eval()
    try:
        if z is None:
            z = encode_all(model, *(message_edges if message_edges is not None else train_edges(snapshot)))
        if filtered and known is None:
            known = KnownTails(snapshot.triples(), snapshot.num_nodes, snapshot.num_relations).to(tensor_device(z))
        if type_constrained and allowed is None:
            allowed = relation_ranges(snapshot)
        if allowed is not None:
            allowed = allowed.to(tensor_device(z))  # a no-op on the CPU, one copy per evaluation on a GPU
        triples = sample_triples(snapshot.triples(split), max_triples)
        queries = both_directions(triples, snapshot.num_relations)
        rk = ranks(model, z, queries, known if filtered else None, allowed if type_constrained else None, batch_size)
    finally:
        model.train(was_training)
    result = summarize(rk)
    rel_of_query = queries[:, 1] % snapshot.num_relations
    result["per_relation"] = {
        name: summarize(rk[rel_of_query == i])
        for i, name in enumerate(snapshot.rel_names)
        if bool((rel_of_query == i).any())
    }
    return result
