"""Supporting paths for explanations: the typed adjacency of a snapshot, simple paths of length 2-3 between
two nodes, and the rule confidence of each path type for a relation, mined on the train split.

Pure numpy/torch over a Snapshot; explainer.py documents the method and uses these to rank the evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from kgplatform.snapshot import SPLIT_TRAIN, Snapshot

PRIOR = 5.0  # pseudo-count of unseen negatives in the rule confidence (AnyBURL's pessimistic confidence)
MAX_EXPANSION = 2_000_000  # two-hop rows gathered for one length-3 search; beyond it length-3 paths are skipped


def inverse_step(step: int | np.ndarray, num_relations: int):
    """Step codes: s < R follows relation s forward, s >= R follows relation s - R backward (as the model)."""
    return (step + num_relations) % (2 * num_relations)


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
                 max_rules_per_relation: int = 64, seed: int = 0, prior: float = PRIOR):
        import scipy.sparse as sp

        self.snapshot, self.prior, self.seed = snapshot, prior, seed
        self.heads_per_relation, self.edges_per_relation = heads_per_relation, edges_per_relation
        self.max_rules_per_relation = max_rules_per_relation
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
        self._count: dict[int, int] = {}  # rules counted per relation (see confidence)
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
        """{confidence, support, hits} of the rule steps => rel. Past ``max_rules_per_relation`` rules of one
        relation, a new path type gets confidence 0 without being counted (``mined: false``): a bound on the
        work on graphs with many relationship types, where the mined types (the frequent ones) come first."""
        key = (rel, tuple(int(s) for s in steps))
        if key not in self.cache and self._count.get(rel, 0) >= self.max_rules_per_relation:
            return {"confidence": 0.0, "support": 0, "hits": 0, "mined": False}
        if key not in self.cache:
            self._count[rel] = self._count.get(rel, 0) + 1
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
                self._count[rel] = self._count.get(rel, 0) + 1
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
