"""Evidence behind a predicted edge: supporting paths, similar linked nodes, and text that names the tail.

Pure functions of a run's snapshot and node vectors; no store, no disk (pipeline/steps.py and the CLI do the I/O).

For a predicted edge (head, REL, tail) the evidence has three parts:

1. **Supporting paths.** Every simple path of length 2 or 3 from head to tail in the asserted graph (all splits: at
   write time every known fact is evidence), following edges in either direction. Paths are grouped by their
   *path type*, the sequence of (relationship type, direction) steps, e.g. ``-[:ALSO_BOUGHT]-> -[:HAS_BRAND]->``.
   A path type is ranked by its **rule confidence** for REL, mined on the train split (the rules of AnyBURL and
   AMIE; PRA uses the same path types as features):

       confidence(type => REL) = hits / (support + PRIOR)

   over a seeded sample of the nodes that are the head of at least one train REL edge: ``support`` counts the
   (h, t) pairs that a simple path of that type connects in the train graph, ``hits`` those that also are a train
   REL edge, and PRIOR (5) discounts rules seen on few pairs (AnyBURL's pessimistic confidence). Counting only
   heads that have some REL edge is AMIE's partial-completeness assumption: a product without any brand in the
   data is unknown, not a counter-example, so in a graph where most products lack a brand the rules are not
   drowned by them. So the confidence reads "how often a head with REL edges, reaching a node by this kind of path,
   has REL to it". The *coverage* (the share of sampled train REL edges whose ends such a path connects, the edge
   itself left out) is reported beside it. Paths of one type are shown by one instance, the one through the least
   connected intermediates (the most specific), with the number of instances. The model's score is the same for
   every path of an edge, so it does not change the order.
2. **Similar nodes with the relation.** The nodes that have an asserted REL edge to the tail, nearest to the head
   by cosine of their text embeddings (the run's features.pt; the model's node states when the run had no text).
3. **Mentions.** Where the head's text names the tail: case-insensitive matches of the tail's whole name, or,
   when there is none, of its words (3+ characters, not stop words, with or without a plural s).

Quality figure (``explanation_stats``): ``top_path_has_relation`` is true when the top-ranked path's last step is
an asserted REL edge in REL's direction into the tail (``(x)-[:REL]->(tail)``: a node the head is linked to has
the predicted relation to the same tail). Its share is taken over the edges that have any path.

Names: the snapshot keeps each node's text as ``"name. description"`` (export.node_text), so a node's name is
read back as the text before the first ". "; a name that itself contains ". " is cut there.
"""

from __future__ import annotations

import re

import numpy as np
import torch

from kgplatform.explain.paths import Adjacency, PathSet, RuleMiner, find_paths, path_pattern
from kgplatform.predictions import Prediction
from kgplatform.snapshot import Snapshot

MAX_SUMMARY = 500  # characters of the evidence string stored on the edge
NAME_CHARS = 40  # a name longer than this is shortened in the summary
STOP_WORDS = frozenset("""a an and are as at be by for from has have in is it its of on or the to with
    this that these those your you our their pack set new""".split())



def node_name(text: str) -> str:
    """A node's name from its snapshot text (see the module docstring)."""
    return text.split(". ", 1)[0].strip()


def shorten(text: str, limit: int = NAME_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"




# ---- explaining edges --------------------------------------------------------------------------------------------

class Explainer:
    """Explains edges of one run: built once from the snapshot and node vectors, then ``explain`` per edge."""

    def __init__(self, snapshot: Snapshot, vectors: torch.Tensor | np.ndarray | None, *,
                 vector_basis: str = "text embedding", miner: RuleMiner | None = None):
        self.snapshot = snapshot
        self.adj = Adjacency.from_triples(snapshot.triples().numpy(), snapshot.num_nodes, snapshot.num_relations)
        self.degree = self.adj.degree()
        self.index = {node_id: i for i, node_id in enumerate(snapshot.node_ids)}
        self.names = [node_name(t) for t in snapshot.node_text]
        self.miner = miner or RuleMiner(snapshot)
        self.vector_basis = vector_basis
        self.vectors = None
        if vectors is not None and len(vectors):
            v = vectors.detach().float().numpy() if isinstance(vectors, torch.Tensor) else np.asarray(vectors)
            self.vectors = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)

    def node(self, i: int) -> dict:
        return {"id": self.snapshot.node_ids[i], "name": self.names[i],
                "type": self.snapshot.type_names[int(self.snapshot.node_type[i])]}

    def lookup(self, head: str, rel_type: str, tail: str) -> tuple[int, int, int]:
        missing = [x for x in (head, tail) if x not in self.index]
        if missing:
            raise KeyError(f"not in the run's snapshot: {', '.join(missing)}")
        if rel_type not in self.snapshot.rel_names:
            raise KeyError(f"relationship type {rel_type!r} is not in the run's snapshot")
        return self.index[head], self.snapshot.rel_names.index(rel_type), self.index[tail]

    def explain(self, head: str, rel_type: str, tail: str, *, max_paths: int = 3, max_neighbours: int = 3,
                max_mentions: int = 3) -> dict:
        h, rel, t = self.lookup(head, rel_type, tail)
        paths, found = self.paths(h, rel, t, max_paths)
        return {
            "head": self.node(h), "rel_type": rel_type, "tail": self.node(t),
            "paths": paths, "paths_found": found.count, "path_types_found": len(found.types()),
            "paths_truncated": found.truncated,
            "top_path_has_relation": paths[0]["ends_with_relation"] if paths else None,
            "neighbours": self.neighbours(h, rel, t, max_neighbours), "neighbour_basis": self.vector_basis,
            "mentions": mentions(self.snapshot.node_text[h], self.names[t], max_mentions),
        }

    def paths(self, h: int, rel: int, t: int, limit: int) -> tuple[list[dict], PathSet]:
        found = find_paths(self.adj, h, t)
        R, names = self.snapshot.num_relations, self.snapshot.rel_names
        ranked = []
        for steps, nodes in found.by_length.values():
            types, inverse = np.unique(steps, axis=0, return_inverse=True)
            inverse = inverse.reshape(-1)
            specificity = self.degree[nodes[:, 1:-1]].sum(axis=1)
            for k, row in enumerate(types.tolist()):
                members = np.nonzero(inverse == k)[0]
                best = members[np.lexsort((*nodes[members].T[::-1], specificity[members]))[0]]
                rule = self.miner.confidence(rel, tuple(row))
                ranked.append((rule, tuple(row), nodes[best].tolist(), len(members)))
        ranked.sort(key=lambda x: (-x[0]["confidence"], -x[3], len(x[1]), x[1]))
        out = []
        for rule, steps, nodes, count in ranked[:limit]:
            out.append({
                "pattern": path_pattern(steps, names),
                "steps": [{"rel_type": names[s % R], "direction": "out" if s < R else "in"} for s in steps],
                "nodes": [self.node(n) for n in nodes], "instances": count,
                "confidence": round(rule["confidence"], 4), "support": rule["support"], "hits": rule["hits"],
                "coverage": self.miner.coverage.get(rel, {}).get(steps),
                "ends_with_relation": steps[-1] == rel,  # the last edge is (x)-[:REL]->(tail)
                "text": path_text(steps, [self.names[n] for n in nodes], names)})
        return out, found

    def neighbours(self, h: int, rel: int, t: int, limit: int) -> list[dict]:
        """Nodes with an asserted REL edge to the tail, most similar to the head first."""
        if self.vectors is None:
            return []
        nbr, step = self.adj.neighbours(t)
        sources = np.unique(nbr[(step == rel + self.snapshot.num_relations) & (nbr != h)])
        if not len(sources):
            return []
        sims = self.vectors[sources] @ self.vectors[h]
        order = np.lexsort((sources, -sims))[:limit]
        return [{**self.node(int(sources[i])), "similarity": round(float(sims[i]), 4)} for i in order]


def path_text(steps, names_on_path: list[str], rel_names: list[str]) -> str:
    """head -[:A]-> "x" <-[:B]- tail, intermediates by (shortened) name."""
    R = len(rel_names)
    parts = ["head"]
    for i, s in enumerate(steps):
        rel = rel_names[s % R]
        parts.append(f"-[:{rel}]->" if s < R else f"<-[:{rel}]-")
        parts.append("tail" if i == len(steps) - 1 else f'"{shorten(names_on_path[i + 1])}"')
    return " ".join(parts)


def mentions(text: str, name: str, limit: int = 3) -> list[dict]:
    """Spans of ``text`` naming ``name``: the whole name (case-insensitive, on word boundaries), else its words."""
    name = name.strip()
    if not name or not text:
        return []
    found = [(m.start(), m.end(), "name") for m in
             re.finditer(r"(?<!\w)" + re.escape(name) + r"(?!\w)", text, flags=re.IGNORECASE)]
    if not found:
        words = {w.lower() for w in re.findall(r"\w+", name) if len(w) >= 3 and w.lower() not in STOP_WORDS
                 and not w.isdigit()}
        # a word matches with or without a plural s: "Desk Lamps" is named by "desk lamp"
        stems = {w[:-1] if w.endswith("s") and len(w) > 3 else w for w in words}
        if stems:
            pattern = (r"(?<!\w)(" + "|".join(re.escape(w) + "s?" for w in sorted(stems, key=len, reverse=True))
                       + r")(?!\w)")
            found = [(m.start(), m.end(), "word") for m in re.finditer(pattern, text, flags=re.IGNORECASE)]
    out = []
    for start, end, kind in found[:limit]:
        lo, hi = max(0, start - 30), min(len(text), end + 30)
        snippet = ("…" if lo else "") + text[lo:hi] + ("…" if hi < len(text) else "")
        out.append({"start": start, "end": end, "text": text[start:end], "match": kind, "snippet": snippet})
    return out


def summarize(explanation: dict, probability: float | None = None, mention: str | None = None) -> str:
    """The short evidence string stored on the edge (at most MAX_SUMMARY characters). mention: the text
    mention that proposed the edge (text/proposals.py), put first."""
    parts = [mention] if mention else []
    if probability is not None:
        parts.append(f"p={probability:.2f}")
    paths = explanation["paths"]
    if paths:
        top = paths[0]
        more = f", {explanation['paths_found']} paths" if explanation["paths_found"] > 1 else ""
        parts.append(f"path {top['text']} (rule conf {top['confidence']:.2f}{more})")
    else:
        parts.append("no path of length 2-3")
    if explanation["neighbours"]:
        near = ", ".join(f'"{shorten(n["name"], 30)}" {n["similarity"]:.2f}' for n in explanation["neighbours"])
        parts.append(f"similar with {explanation['rel_type']} to tail: {near}")
    if explanation["mentions"]:
        m = explanation["mentions"][0]
        parts.append(f'head text {"names" if m["match"] == "name" else "shares words with"} tail: '
                     f'"{shorten(m["snippet"], 70)}"')
    text = ""
    for part in parts:  # whole parts only, so the string never ends mid-way through one
        candidate = f"{text}; {part}" if text else part
        if len(candidate) > MAX_SUMMARY:
            break
        text = candidate
    return text or parts[0][:MAX_SUMMARY]


def explanation_stats(explanations: list[dict]) -> dict:
    """The run's explanation figures (see the module docstring for top_path_has_relation)."""
    with_path = [e for e in explanations if e["paths"]]
    has_rel = sum(1 for e in with_path if e["top_path_has_relation"])
    return {
        "edges": len(explanations), "with_path": len(with_path),
        "with_path_share": round(len(with_path) / len(explanations), 4) if explanations else None,
        "top_path_has_relation": has_rel,
        "top_path_has_relation_share": round(has_rel / len(with_path), 4) if with_path else None,
        "with_neighbours": sum(1 for e in explanations if e["neighbours"]),
        "with_mention": sum(1 for e in explanations if e["mentions"]),
        "mean_top_confidence": (round(float(np.mean([e["paths"][0]["confidence"] for e in with_path])), 4)
                                if with_path else None),
    }


def explain_predictions(explainer: Explainer, predictions: list[Prediction]) -> tuple[list[dict], dict, dict]:
    """Explanations of a run's selected edges, in order; their stats; the rules used (for rules.json)."""
    for rel_type in sorted({p["rel_type"] for p in predictions}):
        explainer.miner.mine(explainer.snapshot.rel_names.index(rel_type))
    explanations = [explainer.explain(p["head"], p["rel_type"], p["tail"]) for p in predictions]
    return explanations, explanation_stats(explanations), explainer.miner.to_json()


def evidence_texts(predictions: list[Prediction], explanations: list[dict]) -> list[str]:
    """The evidence string of each prediction: its explanation's summary, led by the text ``mention`` if any."""
    return [summarize(e, p.get("probability"), p.get("mention")) for p, e in zip(predictions, explanations)]
