"""Which node's text names which node: a feature of the link predictor (``TrainConfig.use_mentions``).

Node i *mentions* node j when j's name occurs, as whole words, anywhere in i's text: a WordNet gloss names its
synset's hypernym ("poodle. an intelligent dog with a thick curly coat"), a product title names its brand. The
model adds a learned per-relation weight for "the head mentions the tail" and one for "the tail mentions the
head" (LinkPredictor._mention_term). On WN18RR, adding these two terms with weights chosen on validation to an
already trained model raised test MRR from 0.466 to 0.500 (HYPERNYM 0.145 -> 0.211; learn/README.md).

Names and normalisation are kgplatform.textnorm's, shared with entity linking: the text before the first '. ',
NFKC, lower case, non-alphanumeric runs as one space; names that are too short, digits only or common words never
match. Unlike entity linking, an ambiguous name counts for every node that has it (the weights and the rest of the
model tell them apart), except the node itself and the nodes of its own name: homonyms name each other in every
text, which is no evidence.
Pairs are stored as a [2, M] tensor sorted by (i, j), so they stay valid when nodes are appended.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass

import torch
from torch import Tensor

from kgplatform.textnorm import MAX_TEXT_CHARS, name_entry, name_of, normalize

MAX_NAME_WORDS = 8  # longer names are not looked for (WN18RR's longest has 8 words; a product title is no name)


@dataclass(frozen=True)
class NameIndex:
    """Which nodes each findable name belongs to, and every node's own normalised name."""

    nodes_named: dict[str, list[int]]
    own_name: list[str]
    longest: int  # words in the longest findable name

    @classmethod
    def of(cls, node_text: list[str], max_chars: int = MAX_TEXT_CHARS) -> "NameIndex":
        nodes_named: dict[str, list[int]] = defaultdict(list)
        own_name: list[str] = []
        for i, text in enumerate(node_text):
            norm, rejected = name_entry(name_of(text[:max_chars]))
            own_name.append(norm)
            if rejected is None and len(norm.split()) <= MAX_NAME_WORDS:
                nodes_named[norm].append(i)
        return cls(dict(nodes_named), own_name, max((len(n.split()) for n in nodes_named), default=0))

    def named_in(self, i: int, text: str, max_chars: int = MAX_TEXT_CHARS) -> list[int]:
        """Sorted ids of the nodes whose name occurs in ``text`` (node i's), other than i and its homonyms."""
        words = normalize(text[:max_chars]).split()
        found: set[int] = set()
        for start in range(len(words)):
            for end in range(start + 1, min(start + self.longest, len(words)) + 1):
                found.update(self.nodes_named.get(" ".join(words[start:end]), ()))
        return sorted(j for j in found if j != i and self.own_name[j] != self.own_name[i])


def pairs_from(index: NameIndex, texts: dict[int, str], max_chars: int = MAX_TEXT_CHARS) -> Tensor:
    """int64 [2, M] of (i, j) for the given texts of nodes i (sorted by i then j)."""
    heads: list[int] = []
    tails: list[int] = []
    for i in sorted(texts):
        named = index.named_in(i, texts[i], max_chars)
        heads.extend([i] * len(named))
        tails.extend(named)
    return torch.tensor([heads, tails], dtype=torch.long).reshape(2, -1)


def mention_pairs(node_text: list[str], max_chars: int = MAX_TEXT_CHARS) -> Tensor:
    """int64 [2, M]: every (i, j) with node j's name in node i's text, sorted by i then j, no duplicates.

    Texts longer than ``max_chars`` are searched on their first ``max_chars`` characters (hostile or huge input
    costs bounded time). Pure: the same texts give the same pairs.
    """
    key = (texts_digest(node_text), max_chars)
    if key not in _RECENT_PAIRS:
        _RECENT_PAIRS.clear()  # one graph's pairs at a time: train, calibrate and score of a run ask for the same
        _RECENT_PAIRS[key] = pairs_from(NameIndex.of(node_text, max_chars), dict(enumerate(node_text)), max_chars)
    return _RECENT_PAIRS[key].clone()


_RECENT_PAIRS: dict[tuple[bytes, int], Tensor] = {}  # a million products' texts take minutes to search


def texts_digest(node_text: list[str]) -> bytes:
    h = hashlib.sha256()
    for text in node_text:
        h.update(text.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.digest()


def updated_pairs(pairs: Tensor, node_text: list[str], changed: list[int], max_chars: int = MAX_TEXT_CHARS) -> Tensor:
    """mention_pairs(node_text) where only the texts of ``changed`` nodes (new or edited) differ from those that
    gave ``pairs``: their rows are searched again against every current name. Other nodes' rows are kept, so an
    old text that names a node added since is not seen until the next full run (the realtime path's trade-off)."""
    if not changed:
        return pairs
    fresh = pairs_from(NameIndex.of(node_text, max_chars), {i: node_text[i] for i in changed}, max_chars)
    kept = pairs[:, ~torch.isin(pairs[0], torch.tensor(changed, dtype=torch.long))]
    merged = torch.cat([kept, fresh], dim=1)
    order = torch.argsort(merged[0] * len(node_text) + merged[1])
    return merged[:, order]


def reversed_pairs(pairs: Tensor) -> Tensor:
    """The (j, i) of every (i, j), sorted by j then i: who is mentioned by whom."""
    flipped = pairs.flip(0)
    order = torch.argsort(flipped[0] * (int(pairs.max()) + 1 if pairs.numel() else 1) + flipped[1])
    return flipped[:, order]


def _keys(pairs: Tensor, num_nodes: int) -> Tensor:
    return pairs[0] * num_nodes + pairs[1]  # sorted, because pairs are sorted and every id < num_nodes


def contains(pairs: Tensor, a: Tensor, b: Tensor, num_nodes: int) -> Tensor:
    """Bool, a's shape: whether (a, b) is one of the pairs (a and b broadcast)."""
    keys = _keys(pairs, num_nodes)
    query = (a * num_nodes + b).reshape(-1)
    if len(keys) == 0:
        return torch.zeros_like(query, dtype=torch.bool).view(torch.broadcast_shapes(a.shape, b.shape))
    pos = torch.searchsorted(keys, query).clamp(max=len(keys) - 1)
    return (keys[pos] == query).view(torch.broadcast_shapes(a.shape, b.shape))


def rows_of(pairs: Tensor, heads: Tensor, num_nodes: int) -> tuple[Tensor, Tensor]:
    """(query index b, node j) for every pair (heads[b], j): the sparse rows of ``heads``."""
    keys = _keys(pairs, num_nodes)
    lo = torch.searchsorted(keys, heads * num_nodes)
    counts = torch.searchsorted(keys, (heads + 1) * num_nodes) - lo
    query = torch.repeat_interleave(torch.arange(len(heads), device=heads.device), counts)
    first = torch.repeat_interleave(lo - (counts.cumsum(0) - counts), counts)
    return query, pairs[1, first + torch.arange(len(query), device=heads.device)]


def mention_matrix(pairs: Tensor, heads: Tensor, tails: Tensor | None, num_nodes: int,
                   pairwise: bool = False) -> Tensor:
    """1.0 where heads[b] mentions the candidate, else 0.0, in score_tails' shapes: [B, N] for tails None, [B, C]
    for one candidate set [C], [B, K] for candidates [B, K], and [B] for pairwise tails [B]."""
    if pairwise:
        return contains(pairs, heads, tails, num_nodes).float()
    if tails is not None and tails.dim() == 2:
        return contains(pairs, heads.unsqueeze(1), tails, num_nodes).float()
    query, named = rows_of(pairs, heads, num_nodes)
    if tails is None:
        out = torch.zeros(len(heads), num_nodes, device=heads.device)
        out[query, named] = 1.0
        return out
    column = torch.full((num_nodes,), -1, dtype=torch.long, device=tails.device)
    column[tails] = torch.arange(len(tails), device=tails.device)
    col = column[named]
    out = torch.zeros(len(heads), len(tails), device=heads.device)
    out[query[col >= 0], col[col >= 0]] = 1.0
    return out
