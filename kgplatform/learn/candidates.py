"""Top-k missing tails per head: the candidate links that scoring and write-back consider."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import torch
from torch import Tensor

from kgplatform.devices import tensor_device
from kgplatform.learn.ann_candidates import CandidateSearch, ann_query_candidates
from kgplatform.learn.index import KnownTails, relation_ranges
from kgplatform.learn.model import LinkPredictor
from kgplatform.learn.selector import QueryCandidates, query_context, reverse_scores
from kgplatform.snapshot import Snapshot

# Most (head, tail) scores held at once: a chunk of heads shrinks as the tail range grows (64 MiB of float32).
SCORE_ELEMENTS = 1 << 24


@torch.no_grad()
def top_candidates(
    model: LinkPredictor,
    z: Tensor,
    snapshot: Snapshot,
    rel: int,
    heads: Tensor,
    k: int,
    exclude: Tensor | None = None,
    chunk_size: int = 1024,
    type_constrained: bool = True,
) -> tuple[Tensor, Tensor, Tensor]:
    """For every head, the k best-scoring tails of relation ``rel`` (0 <= rel < R) that are not yet edges.

    Candidates are entities of the relation's range type (types seen as its tails among all snapshot edges),
    never the head itself, never an existing (head, rel, tail) edge of any split, never a row of
    ``snapshot.excluded`` (already predicted), and never a row of the optional extra ``exclude`` [n, 3].
    Heads are scored at most ``chunk_size`` at a time, fewer for a big range (memory stays bounded), on the
    model's device (z's). The rows come back on the CPU.
    Returns flat (heads, tails, scores), grouped by head in input order, best first; a head with fewer than k
    valid candidates contributes fewer rows.
    """
    cands = query_candidates(model, z, snapshot, rel, heads, k, exclude, chunk_size, type_constrained)
    return torch.from_numpy(cands.heads), torch.from_numpy(cands.tails), torch.from_numpy(cands.scores).float()


@torch.no_grad()
def query_candidates(
    model: LinkPredictor,
    z: Tensor,
    snapshot: Snapshot,
    rel: int,
    heads: Tensor,
    k: int,
    exclude: Tensor | None = None,
    chunk_size: int = 1024,
    type_constrained: bool = True,
    search: CandidateSearch | None = None,
) -> QueryCandidates:
    """top_candidates' rows with their query context (learn/selector.py: log-softmax, gap to best, rank).

    search: how the tails are found (learn/ann_candidates.py); None scores every valid entity."""
    R = snapshot.num_relations
    if not 0 <= rel < R:
        raise ValueError(f"top_candidates: relation id {rel} is outside 0..{R - 1} ({R} relations in snapshot)")
    blocked_rows = [snapshot.triples(), snapshot.excluded.view(-1, 3).long()]
    if exclude is not None:
        blocked_rows.append(torch.as_tensor(exclude, dtype=torch.long).view(-1, 3))
    rows = torch.cat(blocked_rows)
    device = tensor_device(z)
    blocked = KnownTails(rows[rows[:, 1] == rel], snapshot.num_nodes, R).to(device)
    allowed = relation_ranges(snapshot, splits=None).to(device) if type_constrained else None

    heads = torch.as_tensor(heads, dtype=torch.long).flatten()
    range_size = int(allowed[rel].sum()) if allowed is not None else snapshot.num_nodes
    if search is not None and search.resolve(model, rel, range_size) == "ann":
        return ann_query_candidates(model, z, rel, heads, k, blocked, allowed[rel] if allowed is not None else None,
                                    search, chunk_size)

    # Only the range's entities are scored: the others would be masked anyway, and at a million products a
    # brand query scored every product (O(heads x N) instead of O(heads x brands)).
    columns = range_columns(allowed, rel, snapshot.num_nodes, device)
    parts = [tuple(x.cpu() for x in found[1:])
             for found in range_top_k(model, z, rel, heads.to(device), columns, blocked, k, chunk_size)]
    if not parts:
        return QueryCandidates.empty()
    h, t, s, ls, gap, rank = (torch.cat(c) for c in zip(*parts))
    r = torch.full_like(h, rel)
    return QueryCandidates(h.numpy(), r.numpy(), t.numpy(), s.double().numpy(), ls.double().numpy(),
                           gap.double().numpy(), rank.numpy(), reverse_scores(model, z, h, r, t, R))


def range_columns(allowed: Tensor | None, rel: int, num_nodes: int, device) -> Tensor:
    """Entity ids relation ``rel`` may point to: its range in ``allowed`` [R, N], or every entity."""
    return torch.nonzero(allowed[rel]).flatten() if allowed is not None else torch.arange(num_nodes, device=device)


def range_top_k(model: LinkPredictor, z: Tensor, rel: int, heads: Tensor, columns: Tensor, blocked: KnownTails,
                k: int, chunk_size: int) -> Iterator[tuple[Tensor, ...]]:
    """Per chunk of heads, the k best valid tails among ``columns``, flat and best first per head:
    (position in heads, head, tail, score, log-softmax, gap to best, rank), on the model's device.

    Valid: not blocked for (head, rel) and not the head itself. Chunks hold at most SCORE_ELEMENTS scores."""
    size = max(1, min(chunk_size, SCORE_ELEMENTS // max(1, len(columns))))
    for at in torch.arange(len(heads), device=heads.device).split(size):
        h = heads[at]
        r = torch.full_like(h, rel)
        scores = model.score_tails(z, h, r, columns).masked_fill(
            blocked.mask(h, r, columns) | (columns.unsqueeze(0) == h.unsqueeze(1)), float("-inf"))
        top_s, top_i = scores.topk(min(k, scores.size(1)), dim=1)
        top_t = columns[top_i]
        log_softmax, gap, rank = query_context(top_s, scores)
        keep = torch.isfinite(top_s)
        yield (at.unsqueeze(1).expand_as(top_t)[keep], h.unsqueeze(1).expand_as(top_t)[keep], top_t[keep],
               top_s[keep], log_softmax[keep], gap[keep], rank[keep])


def candidate_recall(model: LinkPredictor, z: Tensor, snapshot: Snapshot, rel: int, heads_sample: Tensor, k: int,
                     search: CandidateSearch | None = None, type_constrained: bool = True) -> float:
    """Mean over the sampled heads of the share of their exact top-k tails that the ANN path also returns (heads
    without any valid tail are left out). search: the ANN settings to measure (mode forced to 'ann')."""
    ann = replace(search or CandidateSearch(), mode="ann", used={})  # shares search's built indexes
    exact = query_candidates(model, z, snapshot, rel, heads_sample, k, type_constrained=type_constrained)
    found = query_candidates(model, z, snapshot, rel, heads_sample, k, type_constrained=type_constrained,
                             search=ann)
    if not len(exact):
        return 1.0
    n = snapshot.num_nodes
    hit = np.isin(exact.heads * n + exact.tails, found.heads * n + found.tails).astype(float)
    sampled = np.unique(exact.heads)
    return float(np.mean(np.bincount(exact.heads, hit)[sampled] / np.bincount(exact.heads)[sampled]))


def heads_with_edge(triples: torch.Tensor, num_nodes: int, num_relations: int) -> np.ndarray:
    """Bool [R, N]: node n already is the head of an edge of relation r."""
    out = np.zeros((num_relations, num_nodes), dtype=bool)
    out[triples[:, 1].numpy(), triples[:, 0].numpy()] = True
    return out


def domain_heads(snapshot: Snapshot, rel: int) -> torch.Tensor:
    """Nodes whose type has been seen as the head of this relation: the heads worth proposing tails for."""
    heads = snapshot.edge_index[0, snapshot.edge_type == rel]
    types = torch.unique(snapshot.node_type[heads])
    return torch.nonzero(torch.isin(snapshot.node_type, types)).flatten()


def shard_heads(heads: torch.Tensor, shard: int, num_shards: int) -> torch.Tensor:
    """Heads of one shard: node index modulo the shard count, so every shard gets a similar mix of types."""
    if not 0 <= shard < num_shards:
        raise ValueError(f"shard {shard} is outside 0..{num_shards - 1}")
    return heads[heads % num_shards == shard]
