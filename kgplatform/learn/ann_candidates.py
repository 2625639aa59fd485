"""Candidate tails from an approximate nearest-neighbour index, re-scored exactly.

Exhaustive candidate generation scores every head against every entity: O(heads x N), hours at a million products.
For the distmult and complex decoders the KGE score is an inner product of a query vector q(h, r) with the tail's
state z_t (complex: Re<h * r, conj t> is the dot product of the concatenated real and imaginary parts), and the
text-match term weight_r * <text_h, text_t> folds into the same product: the query gets weight_r * text_h appended
and the tail text_t. So one inner-product index over [z_t, text_t] per tail range (the entities of the types a
relation accepts) answers every relation with that range. The mention term is sparse: the tails a head's text
names, and those whose text names the head, join the retrieved set explicitly. Blocked tails are removed after
the search, and the survivors are re-scored with the model itself, so every returned score is exact; only which
tails are considered is approximate.

RotatE scores a distance, and its text term breaks a pure L2 form: it stays exhaustive (recorded as such).

The query context (log-softmax, gap to best, rank) is computed over the retrieved, re-scored set instead of every
valid entity: log-sum-exp over a few dozen tails is larger than the exact log-softmax's (the tail of the
distribution is missing), so calibration must see candidates drawn the same way. `CandidateSearch` is the one
setting that validation and write-time candidates both follow (pipeline/stages.py).

Pure: tensors in, QueryCandidates out; the indexes are rebuilt from the node states, never read from disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from kgplatform.learn.index import KnownTails
from kgplatform.learn.mentions import rows_of
from kgplatform.learn.model import LinkPredictor, rows
from kgplatform.learn.selector import QueryCandidates, query_context, reverse_scores
from kgplatform.serving.ann import DEFAULT_ANN, ApproximateIndex, ItemIndex, build_index

ANN_DECODERS = ("distmult", "complex")  # inner-product scores
MIN_ANN_TAILS = 50_000  # 'auto' searches an index above this many type-valid tails; exhaustive scoring below
# A head with many known tails would see them fill its retrieved set (they score high: they are true); it fetches
# that many more, up to this, so the known ones removed leave about k * overfetch.
MAX_EXTRA_FETCH = 2048


@dataclass
class TailIndex:
    """An index over the tail vectors of one range; row i of the index is node ``nodes[i]``."""

    index: ItemIndex
    nodes: Tensor


@dataclass
class CandidateSearch:
    """How candidate tails are found: 'exact' (every valid entity scored), 'ann' (an index, then exact re-scoring
    of what it returns) or 'auto' (ann when a relation's range holds more than min_ann_tails entities).

    One object per scoring pass: it keeps the indexes it builds (one per distinct range, for the node states and
    model it was last used with) and records the mode each relation got in ``used``."""

    mode: str = "exact"
    min_ann_tails: int = MIN_ANN_TAILS
    overfetch: int = 4  # tails retrieved per head: k * overfetch (plus its known tails), before removing blocked
    effort: int = 128  # efSearch for HNSW, nprobe for IVF
    index_kind: str = DEFAULT_ANN
    used: dict[int, str] = field(default_factory=dict)
    _indexes: dict = field(default_factory=dict, repr=False)
    _built_for: tuple = field(default=(), repr=False)  # (model, z): held so their ids are not reused

    def __post_init__(self) -> None:
        if self.mode not in ("exact", "ann", "auto"):
            raise ValueError(f"candidate search mode must be 'exact', 'ann' or 'auto', got {self.mode!r}")

    def resolve(self, model: LinkPredictor, rel: int, range_size: int) -> str:
        """'ann' or 'exact' for this relation (and recorded). range_size: its type-valid tails in the whole
        snapshot, so validation and write time decide alike."""
        if self.mode == "exact" or (self.mode == "auto" and range_size <= self.min_ann_tails):
            mode = "exact"
        elif getattr(getattr(model, "cfg", None), "decoder", None) not in ANN_DECODERS:
            mode = "exact (no inner-product decoder)"
        else:
            mode = "ann"
        self.used[rel] = mode
        return mode

    def tail_index(self, model: LinkPredictor, z: Tensor, allowed: Tensor | None) -> TailIndex:
        if len(self._built_for) != 2 or self._built_for[0] is not model or self._built_for[1] is not z:
            self._indexes, self._built_for = {}, (model, z)
        nodes = torch.arange(z.size(0)) if allowed is None else torch.nonzero(allowed).flatten()
        key = nodes.numpy().tobytes()
        if key not in self._indexes:
            index = build_index(tail_vectors(model, z, nodes).numpy(), self.index_kind)
            if isinstance(index, ApproximateIndex):
                index.set_effort(self.effort)
            self._indexes[key] = TailIndex(index, nodes)
        return self._indexes[key]


def tail_vectors(model: LinkPredictor, z: Tensor, nodes: Tensor) -> Tensor:
    """[len(nodes), d (+ text dim)]: the tail side of the score's inner product."""
    parts = [rows(z, nodes)]
    if model.text_match is not None:
        parts.append(rows(model.text_x, nodes))
    return torch.cat(parts, dim=1).float().contiguous()


def query_vectors(model: LinkPredictor, z: Tensor, heads: Tensor, rels: Tensor) -> Tensor:
    """[B, d (+ text dim)]: q(h, r), and the weighted head text, so q . tail_vectors is the score without mentions."""
    parts = [model._query(rows(z, heads), rels)]
    if model.text_match is not None:
        weight = model.TEXT_MATCH_SCALE * model.text_match[rels]
        parts.append(weight.unsqueeze(1) * rows(model.text_x, heads))
    return torch.cat(parts, dim=1).float().contiguous()


def padded(query: Tensor, nodes: Tensor, num_queries: int) -> Tensor:
    """(query b, node) pairs as rows [num_queries, max per query], padded with -1."""
    order = torch.argsort(query, stable=True)
    query, nodes = query[order], nodes[order]
    counts = torch.bincount(query, minlength=num_queries)
    out = torch.full((num_queries, int(counts.max()) if len(query) else 0), -1, dtype=torch.long)
    column = torch.arange(len(query)) - torch.repeat_interleave(counts.cumsum(0) - counts, counts)
    out[query, column] = nodes
    return out


def mentioned_tails(model: LinkPredictor, heads: Tensor) -> Tensor:
    """[B, M] (-1 padded): nodes the head's text names and nodes whose text names the head."""
    if model.mention_weight is None:
        return torch.empty(len(heads), 0, dtype=torch.long)
    found = [rows_of(pairs, heads, model.num_nodes) for pairs in (model.mentions, model.mentioned_by)]
    return padded(torch.cat([q for q, _ in found]), torch.cat([j for _, j in found]), len(heads))


def unique_rows(ids: Tensor) -> Tensor:
    """Each row's ids with repeats replaced by -1 (order not kept)."""
    ids = ids.sort(dim=1).values
    ids[:, 1:][ids[:, 1:] == ids[:, :-1]] = -1
    return ids


@torch.no_grad()
def ann_query_candidates(model: LinkPredictor, z: Tensor, rel: int, heads: Tensor, k: int, blocked: KnownTails,
                         allowed: Tensor | None, search: CandidateSearch, chunk_size: int = 1024) -> QueryCandidates:
    """query_candidates' rows for relation ``rel`` (0 <= rel < 2R) from the tail index of ``allowed`` (bool [N], or
    None: every node): never the head, a blocked (head, rel, tail) or a tail outside ``allowed``. Grouped by head in
    input order, best first; scores exact, query context over the retrieved tails (module docstring)."""
    heads = torch.as_tensor(heads, dtype=torch.long).flatten()
    if not len(heads):
        return QueryCandidates.empty()
    tails = search.tail_index(model, z, allowed)
    rels = torch.full_like(heads, rel)
    extra = blocked.counts(heads, rels).clamp(max=MAX_EXTRA_FETCH)
    order = torch.argsort(extra, stable=True)  # chunks of alike heads: one with many known tails slows only its own
    parts: list[tuple[Tensor, ...]] = []
    for chunk in order.split(chunk_size):
        h, r = heads[chunk], rels[chunk]
        fetch = min(len(tails.index), k * search.overfetch + int(extra[chunk].max()) + 1)  # +1: the head itself
        _, found = tails.index.search(query_vectors(model, z, h, r).numpy(), fetch)
        found = torch.from_numpy(found)
        cand = torch.where(found >= 0, tails.nodes[found.clamp(min=0)], -1)
        cand = unique_rows(torch.cat([cand, mentioned_tails(model, h)], dim=1))
        valid = (cand >= 0) & (cand != h.unsqueeze(1))
        hh, cc = h.unsqueeze(1).expand_as(cand)[valid], cand[valid]
        valid[valid.clone()] = ~blocked.contains(hh, torch.full_like(hh, rel), cc)
        if allowed is not None:
            valid &= allowed[cand.clamp(min=0)]
        scores = model.score_tails(z, h, r, cand.clamp(min=0)).masked_fill(~valid, float("-inf"))
        top_s, top_i = scores.topk(min(k, scores.size(1)), dim=1)
        log_softmax, gap, rank = query_context(top_s, scores)
        keep = torch.isfinite(top_s)
        position = chunk.unsqueeze(1).expand_as(top_i)
        parts.append((position[keep], h.unsqueeze(1).expand_as(top_i)[keep], cand.gather(1, top_i)[keep],
                      top_s[keep], log_softmax[keep], gap[keep], rank[keep]))
    position, h, t, s, ls, gap, rank = (torch.cat(c) for c in zip(*parts))
    back = torch.argsort(position * (k + 1) + rank)  # heads in input order again, best first
    h, t, s, ls, gap, rank = (c[back] for c in (h, t, s, ls, gap, rank))
    r = torch.full_like(h, rel)
    return QueryCandidates(h.numpy(), r.numpy(), t.numpy(), s.double().numpy(), ls.double().numpy(),
                           gap.double().numpy(), rank.numpy(), reverse_scores(model, z, h, r, t, model.num_relations))
