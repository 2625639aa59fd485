"""Calibration and write thresholds per relation and head bucket.

HAS_BRAND and ALSO_VIEWED scores do not mean the same thing, and a product that already has a brand is far less
likely to miss one than a product with none: so each (relation, head already has an edge of it?) group with enough
validation candidates gets its own calibrator. A group without enough evidence gets probabilities from a global
calibrator but no threshold: nothing is written for it.

Thresholds are either one per group (each group's selection reaches the target on validation) or pooled: one
probability threshold over every group with its own calibrator, chosen so that the pooled selection reaches the
target. Per group, dozens of small top sets each pass by luck or fail for want of evidence; pooled, one bound rests
on every candidate (on CoDEx-S, 287 edges at test precision 0.906 against 106 at 0.943 per group, both at
confidence 0.75; pipeline/README.md). With ``confidence`` the selection must reach the target with that confidence
(a lower bound, not the observed precision), which held-out data showed to be needed (pipeline/stages.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kgplatform.learn.calibrate import Calibrator, expected_calibration_error, threshold_for_precision
from kgplatform.learn.selector import Combiner, FeatureContext, QueryCandidates, candidate_features

MIN_CANDIDATES = 50
MIN_POSITIVES = 5


@dataclass
class RelationCalibration:
    fallback: Calibrator  # probabilities only, for groups without their own evidence; never a threshold
    per_group: dict[int, tuple[Calibrator, float | None]] = field(default_factory=dict)
    # what the calibrators read: the raw score (None), or the combined evidence's logit (learn/selector.py)
    combiner: Combiner | None = None

    def values(self, cands: QueryCandidates, context: FeatureContext | None) -> np.ndarray:
        """The value each candidate's calibrator reads: its raw score, or the combiner's logit of its features."""
        if self.combiner is None:
            return cands.scores
        if context is None:
            raise ValueError("this calibration combines evidence: it needs the candidates' feature context")
        return self.combiner.logit(candidate_features(cands, context), cands.rels)

    def predict(self, group: int, scores) -> np.ndarray:
        calibrator, _ = self.per_group.get(group, (self.fallback, None))
        return calibrator.predict(scores)

    def threshold(self, group: int) -> float | None:
        """None (write nothing) for a group without its own validation evidence."""
        return self.per_group[group][1] if group in self.per_group else None

    def to_dict(self, rel_names: list[str]) -> dict:
        return {"fallback": self.fallback.to_dict(),
                "per_group": {group_name(g, rel_names): {"calibrator": c.to_dict(), "threshold": t}
                              for g, (c, t) in sorted(self.per_group.items())},
                "combiner": self.combiner.to_dict(rel_names) if self.combiner is not None else None}

    @classmethod
    def from_dict(cls, d: dict, rel_names: list[str]) -> "RelationCalibration":
        """The inverse of to_dict for the same relation names: it predicts and thresholds exactly as saved."""
        combiner = d.get("combiner")
        return cls(Calibrator.from_dict(d["fallback"]),
                   {group_id(name, rel_names): (Calibrator.from_dict(g["calibrator"]),
                                                None if g["threshold"] is None else float(g["threshold"]))
                    for name, g in d["per_group"].items()},
                   Combiner.from_dict(combiner, rel_names) if combiner is not None else None)


BUCKETS = ("head has none", "head has one")


def group_ids(relations: np.ndarray, head_has_edge: np.ndarray) -> np.ndarray:
    """(relation, head already has an edge of it) -> one integer group id."""
    return np.asarray(relations, dtype=np.int64) * len(BUCKETS) + np.asarray(head_has_edge, dtype=np.int64)


def relation_of(groups):
    """The relation id of group id(s)."""
    return groups // len(BUCKETS)


def group_name(group: int, rel_names: list[str]) -> str:
    return f"{rel_names[relation_of(group)]}|{BUCKETS[group % len(BUCKETS)]}"


def group_id(name: str, rel_names: list[str]) -> int:
    """The inverse of group_name; a relation the names do not have is a ValueError."""
    rel_type, _, bucket = name.rpartition("|")
    if rel_type not in rel_names or bucket not in BUCKETS:
        raise ValueError(f"calibration group {name!r} does not match this snapshot's relations")
    return rel_names.index(rel_type) * len(BUCKETS) + BUCKETS.index(bucket)


def fit_relation_calibration(scores: np.ndarray, labels: np.ndarray, groups: np.ndarray, *, method: str,
                             target_precision: float,
                             confidence: float | None = None,
                             min_candidates: int = MIN_CANDIDATES,
                             pooled: bool = False) -> tuple[RelationCalibration, dict]:
    """groups: a group id per candidate (see group_ids). Returns the calibration and a report (candidates,
    positives, ECE and threshold per group, and the selection they make on validation).
    confidence: the selection must reach the target with this confidence (calibrate.threshold_for_precision).
    pooled: one threshold over the calibrated probabilities of every group with its own calibrator, instead of
    one per group."""
    calibration = RelationCalibration(Calibrator(method=method).fit(scores, labels))
    for group in np.unique(groups).tolist():
        m = groups == group
        if m.sum() >= min_candidates and labels[m].sum() >= MIN_POSITIVES:
            calibration.per_group[group] = (Calibrator(method=method).fit(scores[m], labels[m]), None)
    probs = np.empty_like(scores, dtype=float)
    for group in np.unique(groups).tolist():
        probs[groups == group] = calibration.predict(group, scores[groups == group])
    pooled_threshold = None
    if pooled:
        owned = np.isin(groups, list(calibration.per_group))
        pooled_threshold = threshold_for_precision(probs[owned], labels[owned], target_precision, confidence)
    for group, (own, _) in calibration.per_group.items():
        m = groups == group
        calibration.per_group[group] = (own, pooled_threshold if pooled else
                                        threshold_for_precision(probs[m], labels[m], target_precision, confidence))
    selected = np.zeros(len(scores), dtype=bool)
    report = {}
    for group in np.unique(groups).tolist():
        m = groups == group
        threshold = calibration.threshold(group)
        if threshold is not None:
            selected[m] = probs[m] >= threshold
        report[group] = {"candidates": int(m.sum()), "positives": int(labels[m].sum()),
                         "own_calibrator": group in calibration.per_group, "threshold": threshold,
                         "ece": float(expected_calibration_error(probs[m], labels[m]))}
    summary = {"candidates": int(len(labels)), "positives": int(labels.sum()),
               "ece": float(expected_calibration_error(probs, labels)),
               "threshold_scope": "pooled" if pooled else "per group", "pooled_threshold": pooled_threshold,
               "selected": int(selected.sum()),
               "selected_precision": float(labels[selected].mean()) if selected.any() else None}
    return calibration, {"summary": summary, "per_group": report}
