"""Evidence behind a predicted edge: supporting paths, similar linked nodes, and text that names the tail.

Pure functions of a run's snapshot and node vectors; no store, no disk (run_steps and the CLI do the I/O).

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
   itself left out) is reported beside it. Paths of one type are shown by one instance, the one through the least connected intermediates
   (the most specific), with the number of instances. The model's score is the same for every path of an edge,
   so it does not change the order.
2. **Similar nodes with the relation.** The nodes that have an asserted REL edge to the tail, nearest to the head
   by cosine of their text embeddings (the run's features.pt; the model's node states when the run had no text).
3. **Mentions.** Where the head's text names the tail: case-insensitive matches of the tail's whole name, or,
   when there is none, of its words (3+ characters, not stop words).

Quality figure (``explanation_stats``): ``top_path_has_relation`` is true when the top-ranked path's last step is
an asserted REL edge in REL's direction into the tail (``(x)-[:REL]->(tail)``: a node the head is linked to has
the predicted relation to the same tail). Its share is taken over the edges that have any path.

Names: the snapshot keeps each node's text as ``"name. description"`` (export.node_text), so a node's name is
read back as the text before the first ". "; a name that itself contains ". " is cut there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import torch

from .snapshot import SPLIT_TRAIN, Snapshot

PRIOR = 5.0  # pseudo-count of unseen negatives in the rule confidence (AnyBURL's pessimistic confidence)
MAX_EXPANSION = 2_000_000  # two-hop rows gathered for one length-3 search; beyond it length-3 paths are skipped
MAX_SUMMARY = 500  # characters of the evidence string stored on the edge
NAME_CHARS = 40  # a name longer than this is shortened in the summary
STOP_WORDS = frozenset("""a an and are as at be by for from has have in is it its of on or the to with
    this that these those your you our their pack set new""".split())


def inverse_step(step: int | np.ndarray, num_relations: int):
    """Step codes: s < R follows relation s forward, s >= R follows relation s - R backward (as the model)."""
    return (step + num_relations) % (2 * num_relations)


def node_name(text: str) -> str:
    """A node's name from its snapshot text (see the module docstring)."""
    return text.split(". ", 1)[0].strip()


def shorten(text: str, limit: int = NAME_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenated aranges: starts[i] .. starts[i] + counts[i] - 1 for every i."""
    total = int(counts.sum())
    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(starts, counts) + offsets


# ---- the graph, both directions ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Adjacency:
    """CSR adjacency over both directions: the neighbours of v are nbr[indptr[v]:indptr[v + 1]], sorted by
    (neighbour, step), reached by step codes ``step`` (see inverse_step). Self-loops are left out."""

    indptr: np.ndarray
    nbr: np.ndarray
    step: np.ndarray
    num_relations: int

    @classmethod
    def from_triples(cls, triples, num_nodes: int, num_relations: int) -> "Adjacency":
        rows = np.asarray(triples, dtype=np.int64).reshape(-1, 3)
        rows = rows[rows[:, 0] != rows[:, 2]]
        src = np.concatenate([rows[:, 0], rows[:, 2]])
        dst = np.concatenate([rows[:, 2], rows[:, 0]])
        step = np.concatenate([rows[:, 1], rows[:, 1] + num_relations])
        order = np.lexsort((step, dst, src))
        src, dst, step = src[order], dst[order], step[order]
        indptr = np.zeros(num_nodes + 1, dtype=np.int64)
        np.cumsum(np.bincount(src, minlength=num_nodes), out=indptr[1:])
        return cls(indptr, dst, step, num_relations)

    @property
    def num_nodes(self) -> int:
        return len(self.indptr) - 1

    def degree(self) -> np.ndarray:
        return np.diff(self.indptr)

    def neighbours(self, v: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.indptr[v], self.indptr[v + 1]
        return self.nbr[lo:hi], self.step[lo:hi]

    def expand(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One hop from each of ``nodes``: (row of nodes it came from, neighbour, step)."""
        counts = self.indptr[nodes + 1] - self.indptr[nodes]
        pos = _ranges(self.indptr[nodes], counts)
        return np.repeat(np.arange(len(nodes)), counts), self.nbr[pos], self.step[pos]

    def expansion_size(self, nodes: np.ndarray) -> int:
        return int((self.indptr[nodes + 1] - self.indptr[nodes]).sum())


@dataclass
class PathSet:
    """Paths from one node to another: ``steps`` [P, L] and ``nodes`` [P, L + 1] per length L."""

    by_length: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    truncated: bool = False

    def types(self) -> set[tuple[int, ...]]:
        return {tuple(row) for steps, _ in self.by_length.values() for row in steps.tolist()}

    @property
    def count(self) -> int:
        return sum(len(steps) for steps, _ in self.by_length.values())


def _join_into(adj: Adjacency, ends: np.ndarray, target: int) -> tuple[np.ndarray, np.ndarray]:
    """For rows ending at ``ends``, the last steps ``end -step-> target``: (row index, step), all combinations."""
    tn, ts = adj.neighbours(target)  # target -u-> n  <=>  n -inverse(u)-> target
    lo = np.searchsorted(tn, ends, side="left")
    counts = np.searchsorted(tn, ends, side="right") - lo
    rows = np.repeat(np.arange(len(ends)), counts)
    return rows, inverse_step(ts[_ranges(lo, counts)], adj.num_relations)


def _paths_from(adj: Adjacency, head: int, tail: int, three: bool) -> PathSet:
    out = PathSet()
    a, s1 = adj.neighbours(head)
    keep = (a != head) & (a != tail)
    a, s1 = a[keep], s1[keep]
    rows, s2 = _join_into(adj, a, tail)
    if len(rows):
        out.by_length[2] = (np.stack([s1[rows], s2], axis=1),
                            np.stack([np.full(len(rows), head), a[rows], np.full(len(rows), tail)], axis=1))
    if three:
        src, b, sb = adj.expand(a)
        keep = (b != head) & (b != tail) & (b != a[src])
        src, b, sb = src[keep], b[keep], sb[keep]
        rows, s3 = _join_into(adj, b, tail)
        if len(rows):
            first = src[rows]
            out.by_length[3] = (np.stack([s1[first], sb[rows], s3], axis=1),
                                np.stack([np.full(len(rows), head), a[first], b[rows], np.full(len(rows), tail)],
                                         axis=1))
    return out


def find_paths(adj: Adjacency, head: int, tail: int, max_expansion: int = MAX_EXPANSION) -> PathSet:
    """Every simple path of length 2 and 3 from head to tail, edges followed in either direction.

    Length-3 paths are gathered from the endpoint whose two-hop neighbourhood is smaller (then reversed); when
    both exceed ``max_expansion`` rows they are skipped and ``truncated`` is set.
    """
    if head == tail:
        return PathSet()
    from_head = adj.expansion_size(adj.neighbours(head)[0])
    from_tail = adj.expansion_size(adj.neighbours(tail)[0])
    three = min(from_head, from_tail) <= max_expansion
    if from_head <= from_tail or not three:
        found = _paths_from(adj, head, tail, three)
    else:  # gather from the tail, then turn every path around
        back = _paths_from(adj, tail, head, three)
        found = PathSet({n: (inverse_step(steps[:, ::-1], adj.num_relations), nodes[:, ::-1])
                         for n, (steps, nodes) in back.by_length.items()})
    found.truncated = not three
    return found


# ---- rule confidences on the train split ---------------------------------------------------------------------------

def domain_nodes(snapshot: Snapshot, rel: int) -> np.ndarray:
    """Nodes of a type seen as the head of ``rel`` anywhere in the snapshot."""
    heads = snapshot.edge_index[0, snapshot.edge_type == rel]
    types = torch.unique(snapshot.node_type[heads])
    return torch.nonzero(torch.isin(snapshot.node_type, types)).flatten().numpy()


class RuleMiner:
    """Confidence of path types as rules for a relation, on the train graph (see the module docstring).

    Confidences are computed on demand and cached, so every path type met while explaining gets one; ``mine``
    adds the most frequent path types of each relation's train edges (with their coverage) for rules.json.
    """

    def __init__(self, snapshot: Snapshot, *, heads_per_relation: int = 256, edges_per_relation: int = 300,
                 seed: int = 0, prior: float = PRIOR):
        import scipy.sparse as sp

        self.snapshot, self.prior, self.seed = snapshot, prior, seed
        self.heads_per_relation, self.edges_per_relation = heads_per_relation, edges_per_relation
        R, n = snapshot.num_relations, snapshot.num_nodes
        self.train = snapshot.triples(SPLIT_TRAIN).numpy()
        self.train_adj = Adjacency.from_triples(self.train, n, R)
        rows = self.train[self.train[:, 0] != self.train[:, 2]]
        self.matrices = []
        for r in range(R):
            sel = rows[rows[:, 1] == r]
            m = sp.csr_matrix((np.ones(len(sel)), (sel[:, 0], sel[:, 2])), shape=(n, n))
            m.data[:] = 1.0  # duplicate rows count once
            self.matrices.append(m)
        self.matrices += [m.T.tocsr() for m in self.matrices]  # step r + R: relation r backward
        self._heads: dict[int, np.ndarray] = {}
        self._diag: dict[tuple[int, int], np.ndarray] = {}
        self.cache: dict[tuple[int, tuple[int, ...]], dict] = {}
        self.coverage: dict[int, dict[tuple[int, ...], float]] = {}

    def heads(self, rel: int) -> np.ndarray:
        """The heads a rule of ``rel`` is counted on: a seeded sample of the train heads of ``rel`` (see the
        module docstring), or of its domain when it has no train edge."""
        if rel not in self._heads:
            nodes = np.unique(self.train[self.train[:, 1] == rel, 0])
            if not len(nodes):
                nodes = domain_nodes(self.snapshot, rel)
            rng = np.random.default_rng(self.seed + rel)
            if len(nodes) > self.heads_per_relation:
                nodes = np.sort(rng.choice(nodes, self.heads_per_relation, replace=False))
            self._heads[rel] = nodes
        return self._heads[rel]

    def _closed_walks(self, s1: int, s2: int) -> np.ndarray:
        """[N]: number of walks v -s1-> x -s2-> v, for removing walks that revisit a node."""
        key = (s1, s2)
        if key not in self._diag:
            self._diag[key] = np.asarray(self.matrices[s1].multiply(self.matrices[s2].T).sum(axis=1)).ravel()
        return self._diag[key]

    def _pairs(self, heads: np.ndarray, steps: tuple[int, ...]):
        """Sparse [len(heads), N] > 0 where a simple path of this type joins heads[i] to the column node."""
        import scipy.sparse as sp

        m = self.matrices
        x1 = m[steps[0]][heads]
        if len(steps) == 2:
            walks = x1 @ m[steps[1]]
        else:
            s1, s2, s3 = steps
            walks = (x1 @ m[s2]) @ m[s3]
            # walks h -> a -> h -> t and h -> t -> b -> t revisit a node: inclusion-exclusion removes them
            back_to_head = sp.diags(self._closed_walks(s1, s2)[heads]) @ m[s3][heads]
            back_to_tail = x1 @ sp.diags(self._closed_walks(s2, s3))
            both = x1.multiply(m[inverse_step(s2, len(m) // 2)][heads]).multiply(m[s3][heads])
            walks = walks - back_to_head - back_to_tail + both
        walks = sp.csr_matrix(walks)
        itself = sp.csr_matrix((np.ones(len(heads)), (np.arange(len(heads)), heads)), shape=walks.shape)
        walks = walks - walks.multiply(itself)  # a path from a node back to itself leads to no tail
        walks.data = (walks.data > 0.5).astype(np.float64)
        walks.eliminate_zeros()
        return walks

    def confidence(self, rel: int, steps: tuple[int, ...]) -> dict:
        key = (rel, tuple(int(s) for s in steps))
        if key not in self.cache:
            heads = self.heads(rel)
            support = hits = 0
            for start in range(0, len(heads), 64):
                chunk = heads[start:start + 64]
                pairs = self._pairs(chunk, key[1])
                support += pairs.nnz
                hits += pairs.multiply(self.matrices[rel][chunk]).nnz
            self.cache[key] = {"confidence": hits / (support + self.prior), "support": int(support),
                               "hits": int(hits)}
        return self.cache[key]

    def mine(self, rel: int, max_types: int = 20) -> None:
        """Path types of a seeded sample of the relation's train edges (the edge itself left out), by coverage."""
        edges = self.train[self.train[:, 1] == rel]
        rng = np.random.default_rng(self.seed + 1000 + rel)
        if len(edges) > self.edges_per_relation:
            edges = edges[rng.choice(len(edges), self.edges_per_relation, replace=False)]
        seen: dict[tuple[int, ...], int] = {}
        for h, _, t in edges.tolist():
            for steps in find_paths(self.train_adj, h, t).types():  # a simple path never uses the edge h -> t
                seen[steps] = seen.get(steps, 0) + 1
        top = sorted(seen.items(), key=lambda kv: (-kv[1], len(kv[0]), kv[0]))[:max_types]
        self.coverage[rel] = {steps: n / max(len(edges), 1) for steps, n in top}
        for steps, _ in top:
            self.confidence(rel, steps)

    def to_json(self) -> dict:
        """{REL: [{pattern, steps, confidence, support, hits, coverage}]}, best first: the run's rules.json."""
        names = self.snapshot.rel_names
        out: dict[str, list] = {}
        for (rel, steps), value in self.cache.items():
            out.setdefault(names[rel], []).append({
                "pattern": path_pattern(steps, names), "steps": list(steps), **value,
                "coverage": self.coverage.get(rel, {}).get(steps)})
        for rules in out.values():
            rules.sort(key=lambda x: (-x["confidence"], -x["support"], x["steps"]))
        return {"prior": self.prior, "heads_per_relation": self.heads_per_relation,
                "edges_per_relation": self.edges_per_relation, "seed": self.seed, "rules": out}

    def load_json(self, data: dict) -> None:
        """Seed the cache from a run's rules.json (same snapshot, so the same numbers)."""
        names = self.snapshot.rel_names
        for rel_name, rules in (data.get("rules") or {}).items():
            if rel_name not in names:
                continue
            rel = names.index(rel_name)
            for rule in rules:
                steps = tuple(int(s) for s in rule["steps"])
                self.cache[(rel, steps)] = {k: rule[k] for k in ("confidence", "support", "hits")}
                if rule.get("coverage") is not None:
                    self.coverage.setdefault(rel, {})[steps] = rule["coverage"]


def path_pattern(steps, rel_names: list[str]) -> str:
    """A path type as a Cypher pattern: (head)-[:A]->()<-[:B]-(tail)."""
    R = len(rel_names)
    parts = ["(head)"]
    for i, s in enumerate(steps):
        s = int(s)
        rel = rel_names[s % R]
        parts.append(f"-[:{rel}]->" if s < R else f"<-[:{rel}]-")
        parts.append("(tail)" if i == len(steps) - 1 else "()")
    return "".join(parts)


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
        if words:
            pattern = r"(?<!\w)(" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + r")(?!\w)"
            found = [(m.start(), m.end(), "word") for m in re.finditer(pattern, text, flags=re.IGNORECASE)]
    out = []
    for start, end, kind in found[:limit]:
        lo, hi = max(0, start - 30), min(len(text), end + 30)
        snippet = ("…" if lo else "") + text[lo:hi] + ("…" if hi < len(text) else "")
        out.append({"start": start, "end": end, "text": text[start:end], "match": kind, "snippet": snippet})
    return out


def summarize(explanation: dict, probability: float | None = None) -> str:
    """The short evidence string stored on the edge (at most MAX_SUMMARY characters)."""
    parts = []
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


def explain_predictions(explainer: Explainer, predictions: list[dict]) -> tuple[list[dict], dict, dict]:
    """Explanations of a run's selected edges, in order; their stats; the rules used (for rules.json).

    Each prediction ({head, rel_type, tail, probability, ...}) gets ``evidence`` (the summary string) set.
    """
    for rel_type in sorted({p["rel_type"] for p in predictions}):
        explainer.miner.mine(explainer.snapshot.rel_names.index(rel_type))
    explanations = []
    for p in predictions:
        e = explainer.explain(p["head"], p["rel_type"], p["tail"])
        p["evidence"] = summarize(e, p.get("probability"))
        explanations.append(e)
    return explanations, explanation_stats(explanations), explainer.miner.to_json()
