"""Which candidate links to believe: the model's score combined with the graph's and the text's own evidence.

A raw score says little on its own: the same value is a confident guess for a product with one plausible brand
and a weak one among fifty similar categories. Each candidate (head, relation, tail) gets features that the write
decision can weigh, all computed from the edges known at that time:

| feature | what |
|---|---|
| `score` | the link predictor's raw score |
| `reverse_score` | its score of the reciprocal query (tail, inverse relation, head): the other direction's view |
| `log_softmax` | score minus the log-sum-exp over every valid candidate of the query: the model's own share |
| `gap_to_best` | score minus the query's best candidate score |
| `log_rank` | log(1 + rank among the query's candidates) |
| `head_degree`, `tail_degree` | log(1 + known edges of this relation from the head / into the tail) |
| `head_names_tail`, `tail_names_head` | the head's text names the tail (and the reverse): learn/mentions.py |
| `common_neighbours` | log(1 + nodes linked to both, any relation) |
| `neighbour_votes` | log(1 + the head's neighbours that have this tail for this relation): co-purchase rules |
| `vote_share` | those votes over the head's neighbour count |
| `text_cosine` | cosine of the head's and the tail's text vectors (0 without text) |

``fit_combiner`` learns gradient-boosted trees over these features and the relation on validation candidates and
returns out-of-fold logits (folds by head), so that the calibration and threshold fitted on them
(learn/per_relation.py) see what unseen candidates would get; the stored combiner averages the fold models. On
amazon-giftcards-2018 trees found 362 right edges at test precision 0.9 where one logistic model per relation found
283 and the raw score 125 (the best cut on test, for comparison only).
Pure numpy/scipy/scikit-learn: arrays in, arrays out, and JSON for the run directory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import GroupKFold

from kgplatform.learn.mentions import contains
from kgplatform.learn.trees import tree_outputs_sum

FEATURES = ("score", "reverse_score", "log_softmax", "gap_to_best", "log_rank", "head_degree", "tail_degree",
            "head_names_tail", "tail_names_head", "common_neighbours", "neighbour_votes", "vote_share", "text_cosine")
FOLDS = 5
# Small validation sets get 10 folds: out-of-fold logits from models nearer the averaged one (on
# amazon-giftcards-2018, 309 right edges at test precision 0.948 against 289 at 0.960 with 5; pooled thresholds,
# confidence 0.9). Large ones keep 5: fitting and applying 10 models of 200 trees to 200k candidates cost minutes.
SMALL_FOLDS, SMALL_CANDIDATES = 10, 50_000


@dataclass
class QueryCandidates:
    """Flat candidate rows with their query context (what top-k candidate generation knows of each)."""

    heads: np.ndarray
    rels: np.ndarray  # 0 <= rel < R
    tails: np.ndarray
    scores: np.ndarray
    log_softmax: np.ndarray
    gap_to_best: np.ndarray
    rank: np.ndarray
    reverse_scores: np.ndarray

    def __len__(self) -> int:
        return len(self.heads)

    @classmethod
    def empty(cls) -> "QueryCandidates":
        ints, floats = np.empty(0, dtype=np.int64), np.empty(0)
        return cls(ints, ints, ints, floats, floats, floats, ints, floats)

    @classmethod
    def concat(cls, parts: list["QueryCandidates"]) -> "QueryCandidates":
        if not parts:
            return cls.empty()
        return cls(**{name: np.concatenate([getattr(p, name) for p in parts]) for name in cls.__dataclass_fields__})

    def subset(self, mask: np.ndarray) -> "QueryCandidates":
        return QueryCandidates(**{name: getattr(self, name)[mask] for name in self.__dataclass_fields__})


def query_context(top_scores: torch.Tensor, masked_scores: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(log_softmax, gap_to_best, rank) of each top-k score [B, k] within its row of masked scores [B, N]."""
    lse = torch.logsumexp(masked_scores, dim=1, keepdim=True)
    rank = torch.arange(top_scores.size(1), device=top_scores.device).expand_as(top_scores)
    return top_scores - lse, top_scores - top_scores[:, :1], rank


@torch.no_grad()
def reverse_scores(model, z: torch.Tensor, heads: torch.Tensor, rels: torch.Tensor, tails: torch.Tensor,
                   num_relations: int, chunk: int = 65_536) -> np.ndarray:
    """The model's score of each reciprocal query (tail, rel + R, head), pairwise."""
    out = [model.score_triples(z, t, r + num_relations, h)
           for h, r, t in zip(heads.split(chunk), rels.split(chunk), tails.split(chunk))]
    return torch.cat(out).double().cpu().numpy() if out else np.empty(0)


@dataclass
class FeatureContext:
    """What the features read about the graph: degrees, adjacency and mentions of the known edges."""

    num_nodes: int
    head_degree: np.ndarray  # [R, N] known edges of relation r with node n as head
    tail_degree: np.ndarray  # [R, N] ... as tail
    adjacency: sp.csr_matrix  # N x N, 1 where any known edge joins the two nodes (either direction)
    into_tail: list[sp.csr_matrix]  # per relation r, N x N: row t has 1 at column x where (x, r, t) is known
    mentions: torch.Tensor  # [2, M] mention pairs (learn/mentions.py)
    text: np.ndarray | None = None  # [N, d] unit-length text vectors, or None


def unit_rows(text_x: torch.Tensor | None) -> np.ndarray | None:
    if text_x is None:
        return None
    return torch.nn.functional.normalize(text_x.float(), dim=1).cpu().numpy()


def feature_context(known: torch.Tensor, num_nodes: int, num_relations: int, mentions: torch.Tensor,
                    text_x: torch.Tensor | None = None) -> FeatureContext:
    """known: (head, rel, tail) rows [n, 3] of the edges known when the candidates are proposed; text_x: the
    nodes' text vectors (the model's input), if any."""
    h, r, t = (known[:, i].numpy() for i in range(3))
    head_degree = np.zeros((num_relations, num_nodes), dtype=np.float64)
    tail_degree = np.zeros((num_relations, num_nodes), dtype=np.float64)
    np.add.at(head_degree, (r, h), 1.0)
    np.add.at(tail_degree, (r, t), 1.0)
    ones = np.ones(len(h), dtype=np.float32)
    adjacency = sp.coo_matrix((np.r_[ones, ones], (np.r_[h, t], np.r_[t, h])), shape=(num_nodes, num_nodes)).tocsr()
    adjacency.data[:] = 1.0  # duplicates summed: presence only
    into_tail = []
    for rel in range(num_relations):
        m = r == rel
        mat = sp.coo_matrix((ones[m], (t[m], h[m])), shape=(num_nodes, num_nodes)).tocsr()
        mat.data[:] = 1.0
        into_tail.append(mat)
    return FeatureContext(num_nodes, head_degree, tail_degree, adjacency, into_tail, mentions, unit_rows(text_x))


def _grown(matrix: sp.csr_matrix, num_nodes: int, added: sp.csr_matrix) -> sp.csr_matrix:
    """matrix padded to num_nodes x num_nodes, plus ``added``, as presence (1.0) only."""
    n = matrix.shape[0]
    indptr = np.r_[matrix.indptr, np.full(num_nodes - n, matrix.indptr[-1], dtype=matrix.indptr.dtype)]
    out = sp.csr_matrix((matrix.data, matrix.indices, indptr), shape=(num_nodes, num_nodes)) + added
    out.data[:] = 1.0
    return out


def extend_context(ctx: FeatureContext, added: torch.Tensor, num_nodes: int, mentions: torch.Tensor,
                   text_x: torch.Tensor | None = None) -> FeatureContext:
    """ctx with ``added`` (head, rel, tail) rows known and the node count grown to num_nodes: equal to
    feature_context over ctx's rows plus ``added`` (tested), at the cost of the added rows and one copy of the
    sparse matrices instead of rebuilding them from every edge (the realtime path does this on each tick)."""
    grow = num_nodes - ctx.num_nodes
    head_degree = np.pad(ctx.head_degree, ((0, 0), (0, grow)))
    tail_degree = np.pad(ctx.tail_degree, ((0, 0), (0, grow)))
    h, r, t = (added.reshape(-1, 3)[:, i].numpy() for i in range(3))
    np.add.at(head_degree, (r, h), 1.0)
    np.add.at(tail_degree, (r, t), 1.0)
    ones = np.ones(len(h), dtype=np.float32)
    shape = (num_nodes, num_nodes)
    both = sp.coo_matrix((np.r_[ones, ones], (np.r_[h, t], np.r_[t, h])), shape=shape).tocsr()
    into_tail = [_grown(mat, num_nodes, sp.coo_matrix((ones[r == rel], (t[r == rel], h[r == rel])),
                                                      shape=shape).tocsr())
                 for rel, mat in enumerate(ctx.into_tail)]
    return FeatureContext(num_nodes, head_degree, tail_degree, _grown(ctx.adjacency, num_nodes, both), into_tail,
                          mentions, unit_rows(text_x) if text_x is not None else ctx.text)


def _row_dot(a: sp.csr_matrix, b: sp.csr_matrix) -> np.ndarray:
    """Row-wise dot products of two sparse matrices of the same shape."""
    return np.asarray(a.multiply(b).sum(axis=1)).ravel()


def candidate_features(cands: QueryCandidates, ctx: FeatureContext, chunk: int = 50_000) -> np.ndarray:
    """float64 [n, len(FEATURES)] in FEATURES' order."""
    n = len(cands)
    out = np.zeros((n, len(FEATURES)))
    if n == 0:
        return out
    h, r, t = cands.heads, cands.rels, cands.tails
    col = {name: i for i, name in enumerate(FEATURES)}
    out[:, col["score"]], out[:, col["reverse_score"]] = cands.scores, cands.reverse_scores
    out[:, col["log_softmax"]], out[:, col["gap_to_best"]] = cands.log_softmax, cands.gap_to_best
    out[:, col["log_rank"]] = np.log1p(cands.rank)
    out[:, col["head_degree"]] = np.log1p(ctx.head_degree[r, h])
    out[:, col["tail_degree"]] = np.log1p(ctx.tail_degree[r, t])
    ht, th = torch.from_numpy(h), torch.from_numpy(t)
    out[:, col["head_names_tail"]] = contains(ctx.mentions, ht, th, ctx.num_nodes).numpy()
    out[:, col["tail_names_head"]] = contains(ctx.mentions, th, ht, ctx.num_nodes).numpy()
    neighbour_count = np.asarray(ctx.adjacency.sum(axis=1)).ravel()
    for start in range(0, n, chunk):
        s = slice(start, start + chunk)
        rows_h = ctx.adjacency[h[s]]
        out[s, col["common_neighbours"]] = np.log1p(_row_dot(rows_h, ctx.adjacency[t[s]]))
        votes = np.zeros(len(h[s]))
        for rel in np.unique(r[s]).tolist():
            m = r[s] == rel
            # stored transposed (row t), so no chunk transposes a whole relation (at 10M edges that grew RSS by GBs)
            votes[m] = _row_dot(rows_h[np.nonzero(m)[0]], ctx.into_tail[rel][t[s][m]])
        out[s, col["neighbour_votes"]] = np.log1p(votes)
        out[s, col["vote_share"]] = votes / (neighbour_count[h[s]] + 1.0)
        if ctx.text is not None:
            out[s, col["text_cosine"]] = (ctx.text[h[s]] * ctx.text[t[s]]).sum(axis=1)
    return out


@dataclass
class Combiner:
    """Gradient-boosted trees over the features (plus the relation, one-hot): logit = mean over the fold models of
    (baseline + the sum of their trees' leaf values). Stored as plain arrays, so JSON holds it exactly."""

    num_relations: int
    baseline: float
    # every tree of every fold model, packed: node arrays indexed globally, roots[i] = tree i's first node
    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    is_leaf: np.ndarray
    value: np.ndarray
    roots: np.ndarray
    folds: int

    def logit(self, features: np.ndarray, rels: np.ndarray) -> np.ndarray:
        x = design_matrix(features, rels, self.num_relations)
        summed = tree_outputs_sum(x, self.feature, self.threshold, self.left, self.right, self.is_leaf, self.value,
                                  self.roots)
        return summed / self.folds + self.baseline

    def to_dict(self, rel_names: list[str]) -> dict:
        return {"kind": "hist-gradient-boosting", "features": list(FEATURES), "relations": list(rel_names),
                "baseline": self.baseline, "folds": self.folds, "roots": self.roots.tolist(),
                "feature": self.feature.tolist(), "threshold": self.threshold.tolist(), "left": self.left.tolist(),
                "right": self.right.tolist(), "is_leaf": self.is_leaf.astype(int).tolist(),
                "value": self.value.tolist()}

    @classmethod
    def from_dict(cls, d: dict, rel_names: list[str]) -> "Combiner":
        if list(d["features"]) != list(FEATURES) or list(d["relations"]) != list(rel_names):
            raise ValueError("the saved combiner's features or relations differ from this snapshot's")
        node_count = len(d["feature"])
        arrays = {k: np.asarray(d[k]) for k in ("feature", "threshold", "left", "right", "is_leaf", "value")}
        if any(len(a) != node_count for a in arrays.values()) or \
                not all(0 <= int(v) < max(node_count, 1) for k in ("left", "right") for v in arrays[k]):
            raise ValueError("the saved combiner's trees are malformed")
        return cls(len(rel_names), float(d["baseline"]), arrays["feature"].astype(np.int64),
                   arrays["threshold"].astype(float), arrays["left"].astype(np.int64),
                   arrays["right"].astype(np.int64), arrays["is_leaf"].astype(bool), arrays["value"].astype(float),
                   np.asarray(d["roots"], dtype=np.int64), int(d["folds"]))


def design_matrix(features: np.ndarray, rels: np.ndarray, num_relations: int) -> np.ndarray:
    """The features, then the relation one-hot (so trees can split by relation); NaN counts as 0."""
    onehot = np.zeros((len(features), num_relations))
    onehot[np.arange(len(features)), np.asarray(rels, dtype=np.int64)] = 1.0
    return np.nan_to_num(np.c_[features, onehot])


def _boosted(x: np.ndarray, y: np.ndarray, seed: int):
    return HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=40,
                                          l2_regularization=1.0, early_stopping=False, random_state=seed).fit(x, y)


def _pack(models: list, base_rate: float, num_relations: int) -> Combiner:
    """The fold models' trees as one Combiner (sklearn's fitted predictors read once, here)."""
    fields = {k: [] for k in ("feature", "threshold", "left", "right", "is_leaf", "value")}
    roots, baselines, offset = [], [], 0
    for model in models:
        if model is None:  # a fold with one class only: its constant is the base rate
            baselines.append(float(np.log(base_rate / (1 - base_rate))))
            continue
        baselines.append(float(np.ravel(model._baseline_prediction)[0]))
        for (tree,) in model._predictors:
            nodes = tree.nodes
            roots.append(offset)
            fields["feature"].append(nodes["feature_idx"].astype(np.int64))
            fields["threshold"].append(nodes["num_threshold"].astype(float))
            fields["left"].append(nodes["left"].astype(np.int64) + offset)
            fields["right"].append(nodes["right"].astype(np.int64) + offset)
            fields["is_leaf"].append(nodes["is_leaf"].astype(bool))
            fields["value"].append(nodes["value"].astype(float))
            offset += len(nodes)
    packed = {k: np.concatenate(v) if v else np.empty(0) for k, v in fields.items()}
    if not roots:  # no trees at all: one leaf of value 0
        packed = {"feature": np.zeros(1, np.int64), "threshold": np.zeros(1), "left": np.zeros(1, np.int64),
                  "right": np.zeros(1, np.int64), "is_leaf": np.ones(1, bool), "value": np.zeros(1)}
        roots = [0]
    return Combiner(num_relations, float(np.mean(baselines)), packed["feature"], packed["threshold"],
                    packed["left"], packed["right"], packed["is_leaf"].astype(bool), packed["value"],
                    np.asarray(roots, dtype=np.int64), len(models))


def fit_combiner(features: np.ndarray, labels: np.ndarray, rels: np.ndarray, heads: np.ndarray,
                 num_relations: int, folds: int | None = None, seed: int = 0) -> tuple[Combiner, np.ndarray]:
    """(combiner averaging the fold models, out-of-fold logits of every candidate). Folds group by head, so a
    head's candidates are never scored by a model that saw its labels. folds: default by size (SMALL_FOLDS)."""
    if folds is None:
        folds = SMALL_FOLDS if len(labels) < SMALL_CANDIDATES else FOLDS
    y = np.asarray(labels, dtype=np.int64)
    x = design_matrix(features, rels, num_relations)
    base_rate = (y.sum() + 0.5) / (len(y) + 1.0)
    oof = np.full(len(y), float(np.log(base_rate / (1 - base_rate))))
    k = min(folds, len(np.unique(heads)))
    if k < 2:
        return _pack([None], base_rate, num_relations), oof
    models = []
    for i, (train_idx, test_idx) in enumerate(GroupKFold(n_splits=k).split(x, y, heads)):
        if len(np.unique(y[train_idx])) < 2:
            models.append(None)
            continue
        model = _boosted(x[train_idx], y[train_idx], seed + i)
        models.append(model)
        oof[test_idx] = model.decision_function(x[test_idx])
    return _pack(models, base_rate, num_relations), oof
