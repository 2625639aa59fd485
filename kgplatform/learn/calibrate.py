"""Raw scores -> probabilities that a proposed edge is true, fitted on validation candidates."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from torch import Tensor

from kgplatform.devices import tensor_device
from kgplatform.learn.ann_candidates import CandidateSearch, ann_query_candidates
from kgplatform.learn.candidates import range_columns, range_top_k
from kgplatform.learn.index import KnownTails, relation_ranges
from kgplatform.learn.model import LinkPredictor
from kgplatform.learn.selector import QueryCandidates, reverse_scores
from kgplatform.snapshot import SPLIT_TRAIN, SPLIT_VALID, Snapshot


@torch.no_grad()
def validation_candidates(
    model: LinkPredictor,
    z: Tensor,
    snapshot: Snapshot,
    k: int = 10,
    split: int = SPLIT_VALID,
    type_constrained: bool = True,
    chunk_size: int = 1024,
    with_relations: bool = False,
    queries: Tensor | None = None,
    known_splits: tuple[int, ...] = (SPLIT_TRAIN,),
) -> tuple[np.ndarray, ...]:
    """(scores, labels) of the top-k candidate tails of every distinct (head, rel) in ``split``.

    held_out_candidates with the same arguments, as plain arrays. with_relations: also return the relation id
    and head of each candidate (for per-relation calibration).
    """
    cands, labels = held_out_candidates(model, z, snapshot, k=k, split=split, type_constrained=type_constrained,
                                        chunk_size=chunk_size, queries=queries, known_splits=known_splits)
    out = (cands.scores, labels)
    return (*out, cands.rels, cands.heads) if with_relations else out


@torch.no_grad()
def held_out_candidates(
    model: LinkPredictor,
    z: Tensor,
    snapshot: Snapshot,
    k: int = 10,
    split: int = SPLIT_VALID,
    type_constrained: bool = True,
    chunk_size: int = 1024,
    queries: Tensor | None = None,
    known_splits: tuple[int, ...] = (SPLIT_TRAIN,),
    search: CandidateSearch | None = None,
) -> tuple[QueryCandidates, np.ndarray]:
    """(candidates with their query context, labels) of the top-k tails of every distinct (head, rel) in ``split``.

    Mimics write time with only the edges of ``known_splits`` known (default train): candidates are type-valid
    tails (ranges seen in the known splits) that are not known edges of (head, rel), not the head, and not
    already predicted (snapshot.excluded). Label 1 if the triple is an edge outside the known splits.
    z should come from train edges only.
    Symmetric held-out protocol: for calibration, split=SPLIT_VALID with known_splits=(SPLIT_TRAIN, SPLIT_TEST);
    for the test check, split=SPLIT_TEST with known_splits=(SPLIT_TRAIN, SPLIT_VALID). Each then has exactly one
    split's edges to find, so what validation says of a threshold carries over to test.
    queries: (head, rel) rows to draw candidates for; default the distinct (head, rel) of ``split``.
    Scores are masked and ranked on the model's device; the candidates come back as CPU arrays.
    search: how the tails are found (learn/ann_candidates.py), as at write time; None scores every valid entity.
    Relations searched by an index come after the exhaustively scored ones.
    """
    device = tensor_device(z)
    rows = snapshot.triples()
    is_known = torch.isin(snapshot.edge_split, torch.tensor(list(known_splits), dtype=torch.long))
    blocked = KnownTails(torch.cat([rows[is_known], snapshot.excluded.view(-1, 3).long()]), snapshot.num_nodes,
                         snapshot.num_relations).to(device)
    held_out = KnownTails(rows[~is_known], snapshot.num_nodes, snapshot.num_relations)
    allowed = relation_ranges(snapshot, splits=known_splits).to(device) if type_constrained else None
    if queries is None:
        queries = torch.unique(snapshot.triples(split)[:, :2], dim=0)  # distinct (head, rel), rel < R
    searched: list[QueryCandidates] = []
    if search is not None:
        # decided on the whole snapshot's ranges, as query_candidates does at write time
        sizes = relation_ranges(snapshot, splits=None).sum(1) if type_constrained else None
        for rel in torch.unique(queries[:, 1]).tolist():
            size = int(sizes[rel]) if sizes is not None else snapshot.num_nodes
            if search.resolve(model, rel, size) == "ann":
                of_rel = queries[:, 1] == rel
                searched.append(ann_query_candidates(model, z, rel, queries[of_rel, 0], k, blocked,
                                                     allowed[rel] if allowed is not None else None, search,
                                                     chunk_size))
                queries = queries[~of_rel]
    parts: list[tuple[Tensor, ...]] = []
    for rel in torch.unique(queries[:, 1]).tolist():  # one relation at a time: only its range is scored
        position = torch.nonzero(queries[:, 1] == rel).flatten()
        columns = range_columns(allowed, rel, snapshot.num_nodes, device)
        for at, h, t, s, log_softmax, gap, rank in range_top_k(model, z, rel, queries[position, 0].to(device),
                                                                columns, blocked, k, chunk_size):
            h, t, r = h.cpu(), t.cpu(), torch.full((len(h),), rel, dtype=torch.long)
            parts.append((position[at.cpu()], h, r, t, s.cpu(), log_softmax.cpu(), gap.cpu(), rank.cpu(),
                          held_out.contains(h, r, t)))
    exhaustive, labels = QueryCandidates.empty(), np.empty(0, dtype=np.int64)
    if parts:
        cols = [torch.cat(c) for c in zip(*parts)]
        back = torch.argsort(cols[0] * (k + 1) + cols[7])  # queries in their input order again, best first
        cols = [c[back] for c in cols[1:]]
        exhaustive = QueryCandidates(cols[0].numpy(), cols[1].numpy(), cols[2].numpy(), cols[3].double().numpy(),
                                     cols[4].double().numpy(), cols[5].double().numpy(), cols[6].numpy(),
                                     reverse_scores(model, z, cols[0], cols[1], cols[2], snapshot.num_relations))
        labels = cols[7].long().numpy()
    if not searched:
        return exhaustive, labels
    cands = QueryCandidates.concat([exhaustive, *searched])
    rest = QueryCandidates.concat(searched)
    found = held_out.contains(*(torch.from_numpy(c) for c in (rest.heads, rest.rels, rest.tails)))
    return cands, np.concatenate([labels, found.long().numpy()])


class Calibrator:
    """Monotone map from raw score to probability: isotonic regression (default) or Platt scaling.

    Predictions come from the stored parameters only (thresholds or slope/intercept), so a calibrator restored
    with ``from_dict`` predicts exactly what the fitted one did.
    """

    def __init__(self, method: Literal["isotonic", "platt"] = "isotonic"):
        if method not in ("isotonic", "platt"):
            raise ValueError(f"Calibrator: method must be 'isotonic' or 'platt', got {method!r}")
        self.method = method
        self.x: list[float] = []
        self.y: list[float] = []
        self.coef = self.intercept = 0.0

    def fit(self, scores, labels) -> "Calibrator":
        s, y = np.asarray(scores, dtype=float).ravel(), np.asarray(labels, dtype=float).ravel()
        if len(s) == 0:
            raise ValueError("Calibrator.fit: no validation candidates to fit on")
        if self.method == "isotonic":
            iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(s, y)
            self.x, self.y = iso.X_thresholds_.tolist(), iso.y_thresholds_.tolist()
        elif len(np.unique(y)) < 2:  # Platt needs both classes: fall back to the constant base rate
            self.coef, self.intercept = 0.0, float(np.log((y.mean() + 1e-6) / (1 - y.mean() + 1e-6)))
        else:
            lr = LogisticRegression(C=1e4).fit(s.reshape(-1, 1), y)
            self.coef, self.intercept = float(lr.coef_[0, 0]), float(lr.intercept_[0])
        return self

    def predict(self, scores) -> np.ndarray:
        s = np.asarray(scores, dtype=float).ravel()
        if self.method == "isotonic":
            return np.interp(s, self.x, self.y)  # linear between thresholds, clipped outside (as sklearn)
        return 1.0 / (1.0 + np.exp(-(self.coef * s + self.intercept)))

    def to_dict(self) -> dict:
        if self.method == "isotonic":
            return {"method": "isotonic", "x": self.x, "y": self.y}
        return {"method": "platt", "coef": self.coef, "intercept": self.intercept}

    @classmethod
    def from_dict(cls, d: dict) -> "Calibrator":
        c = cls(d["method"])
        if c.method == "isotonic":
            c.x, c.y = [float(v) for v in d["x"]], [float(v) for v in d["y"]]
        else:
            c.coef, c.intercept = float(d["coef"]), float(d["intercept"])
        return c


def precision_lower_bound(hits, selected, confidence: float) -> np.ndarray:
    """One-sided Clopper-Pearson lower bound on precision: with probability >= confidence the true precision of
    a set with ``hits`` true among ``selected`` is at least this (0 where hits is 0)."""
    from scipy.stats import beta

    k, n = np.asarray(hits, dtype=float), np.asarray(selected, dtype=float)
    out = np.zeros(np.broadcast(k, n).shape)
    some = np.broadcast_to(k > 0, out.shape)
    out[some] = beta.ppf(1.0 - confidence, np.broadcast_to(k, out.shape)[some],
                         np.broadcast_to(n - k + 1, out.shape)[some])
    return out


SMALL_SET = 30  # a top set smaller than this must clear SMALL_SET_CONFIDENCE, whatever the confidence asked
SMALL_SET_CONFIDENCE = 0.75


def threshold_for_precision(probabilities, labels, target_precision: float = 0.9,
                            confidence: float | None = None) -> float | None:
    """Lowest probability t such that the candidates with p >= t have precision >= target (None if none does).

    Precision is not monotone in t, so this is the largest selected set meeting the target on this data.
    confidence (e.g. 0.75): the set must reach the target with that confidence (precision_lower_bound), not
    just in its observed precision. Taking the largest passing set among many is optimistic -- a top set of
    3 out of 3 passes by luck -- so on held-out data the observed-precision rule falls short of the target.
    With a confidence below SMALL_SET_CONFIDENCE, sets under SMALL_SET candidates are held to that stricter
    bound: at 0.5, WN18RR's INSTANCE_HYPERNYM wrote 33 edges at test precision 0.55 from a small top set, while
    sets of hundreds held 0.91-0.97 on the Amazon graphs (bench/results/yield.md).
    """
    p, y = np.asarray(probabilities, dtype=float).ravel(), np.asarray(labels, dtype=float).ravel()
    if len(p) == 0:
        return None
    order = np.argsort(-p, kind="stable")
    p, y = p[order], y[order]
    hits, selected = np.cumsum(y), np.arange(1, len(y) + 1)
    if confidence is None:
        precision = hits / selected
    else:
        precision = precision_lower_bound(hits, selected, confidence)
        if confidence < SMALL_SET_CONFIDENCE:
            small = selected < SMALL_SET
            precision[small] = precision_lower_bound(hits[small], selected[small], SMALL_SET_CONFIDENCE)
    last_of_value = np.r_[p[1:] != p[:-1], True]  # p >= t selects through the last tie of t
    ok = last_of_value & (precision >= target_precision)
    if not ok.any():
        return None
    return float(p[np.nonzero(ok)[0][-1]])


def expected_calibration_error(probabilities, labels, bins: int = 10) -> float:
    """Share-weighted mean |observed rate - mean probability| over equal-width probability bins."""
    p, y = np.asarray(probabilities, dtype=float).ravel(), np.asarray(labels, dtype=float).ravel()
    if len(p) == 0:
        return 0.0
    idx = np.minimum((p * bins).astype(int), bins - 1)
    ece = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            ece += m.mean() * abs(y[m].mean() - p[m].mean())
    return float(ece)
