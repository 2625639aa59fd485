"""Entity recognition and linking from product text: mentions of the graph's own brands and categories.

Pure functions over a Snapshot (no store, no disk):

1. ``build_matcher``: an Aho-Corasick automaton (pyahocorasick) over the *names* of the nodes of a relation's range
   type (brands for HAS_BRAND, categories for IN_CATEGORY). A node's name is the text before the first ". " of
   ``snapshot.node_text`` (export.node_text joins name and description that way). Names are normalised
   (``normalize``: Unicode NFKC, lower case, every run of non-alphanumeric characters becomes one space), and
   dropped when they cannot be told apart from ordinary text (``name_rejection``): shorter than ``min_chars``
   characters, made only of digits (prices, sizes, "11:11"), or made only of common English words (COMMON_WORDS);
   and, per relation, when the known edges show the name is poor evidence (``relation_matcher``: mentioned by at
   least 3 heads with a known edge, right for fewer than half of them).
   Several nodes may share a normalised name; the one with the most known edges of the relation wins (ties: the
   lowest node index), so an ambiguous name still links to one node, the likeliest.
2. ``find_mentions``: the matcher run over one text. Word-boundary aware (patterns and text are padded with
   spaces after normalisation, so "art" never matches inside "party"), case-insensitive, and on overlaps the
   longest match wins (then the leftmost). Spans are character offsets into the original text.
3. ``propose_text_links``: one candidate row (head, rel, tail, span, start, end, method='text') per distinct
   (head, tail) mentioned in the head's text, first mention kept as evidence.
4. ``fuzzy_links``: for heads without an exact mention, the nearest tail by cosine between the head's text vector
   and the tails' name vectors (MiniLM, features.encode_texts), proposed when the cosine reaches a threshold;
   ``choose_fuzzy_threshold`` picks it on the validation split (never test) with calibrate.threshold_for_precision.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from kgplatform.learn.calibrate import threshold_for_precision
from kgplatform.snapshot import Snapshot
from kgplatform.textnorm import MAX_TEXT_CHARS, MIN_CHARS, name_entry, name_of, normalize_with_offsets

METHOD_TEXT, METHOD_FUZZY = "text", "text-embedding"
MIN_SUPPORT, MIN_NAME_PRECISION = 3, 0.5  # see relation_matcher


@dataclass
class Matcher:
    """An Aho-Corasick automaton over normalised names; values are (node index, normalised name)."""

    automaton: object  # ahocorasick.Automaton, or None when no name survived
    names: dict[str, int]  # normalised name -> node index
    dropped: dict[str, int]  # rejection reason -> count of names dropped for it
    ambiguous: int  # names shared by more than one node (resolved to the one with most known edges)


def build_matcher(names: dict[int, str], prior: dict[int, int] | None = None, *,
                  min_chars: int = MIN_CHARS) -> Matcher:
    """names: node index -> name (raw). prior: node index -> known edge count, to resolve shared names."""
    import ahocorasick

    prior = prior or {}
    dropped: dict[str, int] = {}
    by_name: dict[str, list[int]] = {}
    for node, raw in names.items():
        norm, why = name_entry(raw, min_chars)
        if why is not None:
            dropped[why] = dropped.get(why, 0) + 1
            continue
        by_name.setdefault(norm, []).append(node)
    chosen = {norm: min(nodes, key=lambda n: (-prior.get(n, 0), n)) for norm, nodes in by_name.items()}
    automaton = None
    if chosen:
        automaton = ahocorasick.Automaton()
        for norm, node in chosen.items():
            automaton.add_word(f" {norm} ", (node, norm))
        automaton.make_automaton()
    return Matcher(automaton, chosen, dropped, sum(len(v) > 1 for v in by_name.values()))


@dataclass(frozen=True)
class Mention:
    tail: int
    span: str  # the original text of the mention
    start: int  # character offsets into the original text, end exclusive
    end: int


def find_mentions(matcher: Matcher, text: str, max_chars: int = MAX_TEXT_CHARS) -> list[Mention]:
    """Non-overlapping mentions in ``text``, in text order; on overlap the longest wins, then the leftmost."""
    if matcher.automaton is None or not text:
        return []
    text = text[:max_chars]
    norm, offsets = normalize_with_offsets(text)
    if not norm:
        return []
    padded = f" {norm} "
    found = []  # (start, end) in norm coordinates, end exclusive; node
    for last, (node, name) in matcher.automaton.iter(padded):
        # padded[last] is the pattern's closing space; padded index i is norm index i - 1
        end = last - 1  # norm index one past the name's final character
        start = end - len(name)
        found.append((start, end, node))
    found.sort(key=lambda m: (-(m[1] - m[0]), m[0]))
    taken: list[tuple[int, int]] = []
    chosen = []
    for start, end, node in found:
        if any(start < e and s < end for s, e in taken):
            continue
        taken.append((start, end))
        chosen.append((start, end, node))
    out = []
    for start, end, node in sorted(chosen):
        a, b = offsets[start], offsets[end - 1] + 1
        out.append(Mention(node, text[a:b], a, b))
    return out


# ---- relations: heads, tails, names ---------------------------------------------------------------------------

def relation_heads_tails(snapshot: Snapshot, rel_type: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(heads, tails): the nodes of the types seen as heads / as tails of ``rel_type`` among all edges."""
    rel = snapshot.rel_names.index(rel_type)
    m = snapshot.edge_type == rel
    out = []
    for side in (0, 1):
        types = torch.unique(snapshot.node_type[snapshot.edge_index[side, m]])
        out.append(torch.nonzero(torch.isin(snapshot.node_type, types)).flatten())
    return out[0], out[1]


def tail_names(snapshot: Snapshot, tails: torch.Tensor) -> dict[int, str]:
    return {t: name_of(snapshot.node_text[t]) for t in tails.tolist()}


def known_rows(snapshot: Snapshot, splits: tuple[int, ...]) -> torch.Tensor:
    rows = snapshot.triples()
    return rows[torch.isin(snapshot.edge_split, torch.tensor(splits, dtype=torch.long))]


def edge_counts(rows: torch.Tensor, rel: int) -> dict[int, int]:
    """tail node -> number of ``rows`` of relation ``rel`` that end in it (the prior for shared names)."""
    tails = rows[rows[:, 1] == rel, 2]
    values, counts = torch.unique(tails, return_counts=True)
    return dict(zip(values.tolist(), counts.tolist()))


def relation_matcher(snapshot: Snapshot, rel_type: str, known: torch.Tensor, *, min_chars: int = MIN_CHARS,
                     min_support: int = MIN_SUPPORT, min_precision: float = MIN_NAME_PRECISION) -> Matcher:
    """The matcher over the range nodes of ``rel_type``; shared names resolved by the edges in ``known``.

    Names that the known edges show to be poor evidence are dropped as "unreliable on known edges": among the
    heads that have a known edge of the relation, a name mentioned by at least ``min_support`` of them whose
    known tail is that name's node in fewer than ``min_precision`` of them (a brand called "Gift Card" is
    mentioned by nearly every gift card, whatever its brand).
    """
    rel = snapshot.rel_names.index(rel_type)
    _, tails = relation_heads_tails(snapshot, rel_type)
    names, prior = tail_names(snapshot, tails), edge_counts(known, rel)
    matcher = build_matcher(names, prior, min_chars=min_chars)
    reliability = name_reliability(snapshot, rel_type, matcher, known)
    bad = {t for t, (n, hits) in reliability.items() if n >= min_support and hits < min_precision * n}
    if not bad:
        return matcher
    kept = build_matcher({t: x for t, x in names.items() if t not in bad}, prior, min_chars=min_chars)
    kept.dropped = {**matcher.dropped, "unreliable on known edges": len(bad)}
    return kept


def name_reliability(snapshot: Snapshot, rel_type: str, matcher: Matcher,
                     known: torch.Tensor) -> dict[int, tuple[int, int]]:
    """tail -> (heads with a known edge of the relation that mention it, those whose known edge is to it)."""
    rel = snapshot.rel_names.index(rel_type)
    rows = known[known[:, 1] == rel]
    truth: dict[int, set[int]] = {}
    for h, _, t in rows.tolist():
        truth.setdefault(h, set()).add(t)
    out: dict[int, list[int]] = {}
    for row in propose_text_links(snapshot, rel_type, matcher, torch.tensor(sorted(truth), dtype=torch.long)):
        n_hits = out.setdefault(row["tail"], [0, 0])
        n_hits[0] += 1
        n_hits[1] += row["tail"] in truth[row["head"]]
    return {t: (n, hits) for t, (n, hits) in out.items()}


def propose_text_links(snapshot: Snapshot, rel_type: str, matcher: Matcher,
                       heads: torch.Tensor | None = None) -> list[dict]:
    """Candidate rows {head, rel, tail, span, start, end, method='text'} (node indices), one per distinct
    (head, tail) mentioned in the head's text (its first mention is the evidence). heads: default the relation's
    domain. Known edges are not removed here: see ``drop_known``."""
    if heads is None:
        heads, _ = relation_heads_tails(snapshot, rel_type)
    rows = []
    for h in heads.tolist():
        seen = set()
        for m in find_mentions(matcher, snapshot.node_text[h]):
            if m.tail in seen or m.tail == h:
                continue
            seen.add(m.tail)
            rows.append({"head": h, "rel": rel_type, "tail": m.tail, "span": m.span, "start": m.start,
                         "end": m.end, "method": METHOD_TEXT})
    return rows


def drop_known(rows: list[dict], snapshot: Snapshot, known: torch.Tensor) -> list[dict]:
    """Rows that are neither a ``known`` (h, r, t) edge nor already predicted (snapshot.excluded)."""
    blocked = {tuple(r) for r in torch.cat([known, snapshot.excluded.view(-1, 3).long()]).tolist()}
    return [r for r in rows if (r["head"], snapshot.rel_names.index(r["rel"]), r["tail"]) not in blocked]


# ---- fuzzy mentions: embeddings --------------------------------------------------------------------------------

def nearest_tails(head_x: torch.Tensor, tail_x: torch.Tensor, tails: torch.Tensor,
                  blocked: set[tuple[int, int]] | None = None,
                  heads: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(best tail, its cosine) per row of head_x [H, d] against tail_x [T, d] (rows L2-normalised).
    blocked: (head, tail) pairs never chosen (known edges), with ``heads`` giving the node of each head row."""
    if len(tails) == 0 or len(head_x) == 0:
        return torch.empty(0, dtype=torch.long), torch.empty(0)
    sims = head_x @ tail_x.T
    if blocked and heads is not None:
        col = {t: j for j, t in enumerate(tails.tolist())}
        by_head: dict[int, list[int]] = {}
        for h, t in blocked:
            by_head.setdefault(h, []).append(t)
        pairs = [(i, col[t]) for i, h in enumerate(heads.tolist()) for t in by_head.get(h, ()) if t in col]
        if pairs:
            ii, jj = zip(*pairs)
            sims[list(ii), list(jj)] = float("-inf")
    best, idx = sims.max(dim=1)
    return tails[idx], best


def fuzzy_links(snapshot: Snapshot, rel_type: str, heads: torch.Tensor, head_x: torch.Tensor,
                tails: torch.Tensor, tail_x: torch.Tensor, threshold: float,
                blocked: set[tuple[int, int]] | None = None) -> list[dict]:
    """For each head (head_x its text vector), the nearest tail by cosine if it reaches ``threshold``:
    rows {head, rel, tail, span (the tail's name), start/end None, cosine, method='text-embedding'}."""
    best, cos = nearest_tails(head_x, tail_x, tails, blocked, heads)
    rows = []
    for h, t, c in zip(heads.tolist(), best.tolist(), cos.tolist()):
        if c >= threshold and np.isfinite(c):
            rows.append({"head": h, "rel": rel_type, "tail": t, "span": name_of(snapshot.node_text[t]),
                         "start": None, "end": None, "cosine": round(float(c), 4), "method": METHOD_FUZZY})
    return rows


def choose_fuzzy_threshold(cosines, labels, target_precision: float,
                           confidence: float | None = None) -> float | None:
    """Lowest cosine whose selection reaches ``target_precision`` on the given (validation) rows, or None."""
    return threshold_for_precision(cosines, labels, target_precision, confidence)


# ---- write-back rows ---------------------------------------------------------------------------------------------

def evidence_of(row: dict) -> str:
    """Short provenance: the matched span and where it lies, or the fuzzy match's cosine."""
    if row.get("start") is not None:
        return f'text mention "{row["span"]}" at {row["start"]}-{row["end"]}'
    return f'text similar to "{row["span"]}" (cosine {row.get("cosine", float("nan")):.3f})'


def text_predictions(snapshot: Snapshot, rows: list[dict], scores, probabilities,
                     threshold: float | None) -> list[dict]:
    """Text candidates re-scored by the link predictor -> the rows write_predictions takes (with method='text'):
    {head, rel_type, tail, score, probability, evidence} in domain ids, for those whose calibrated probability
    reaches ``threshold`` (None: none), most probable first. scores/probabilities: the model's raw score and
    calibrated probability of each row (bench.entities.model_probabilities computes both ways of checking)."""
    if threshold is None:
        return []
    out = [{"head": snapshot.node_ids[r["head"]], "rel_type": r["rel"], "tail": snapshot.node_ids[r["tail"]],
            "score": float(s), "probability": float(p), "evidence": evidence_of(r), "method": r["method"]}
           for r, s, p in zip(rows, scores, probabilities) if p >= threshold]
    out.sort(key=lambda p: (-p["probability"], p["head"], p["rel_type"], p["tail"]))
    return out
