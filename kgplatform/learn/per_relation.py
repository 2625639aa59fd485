"""Calibration and write thresholds per relation and head bucket.

HAS_BRAND and ALSO_VIEWED scores do not mean the same thing, and a product that already has a brand is far less
likely to miss one than a product with none: so each (relation, head already has an edge of it?) group with enough
validation candidates gets its own calibrator and threshold. A group without enough evidence gets probabilities
from a global calibrator but no threshold: nothing is written for it. Each selected set reaches the target
precision on validation, so their union does too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kgplatform.learn.calibrate import Calibrator, expected_calibration_error, threshold_for_precision

MIN_CANDIDATES = 50
MIN_POSITIVES = 5


@dataclass
class RelationCalibration:
    fallback: Calibrator
    fallback_threshold: float | None
    per_relation: dict[int, tuple[Calibrator, float | None]] = field(default_factory=dict)  # key: group id

    def predict(self, rel: int, scores) -> np.ndarray:
        calibrator, _ = self.per_relation.get(rel, (self.fallback, None))
        return calibrator.predict(scores)

    def threshold(self, rel: int) -> float | None:
        """None (write nothing) for a group without its own validation evidence."""
        return self.per_relation[rel][1] if rel in self.per_relation else None

    def to_dict(self, rel_names: list[str]) -> dict:
        return {"fallback": self.fallback.to_dict(), "fallback_threshold": self.fallback_threshold,
                "per_group": {group_name(g, rel_names): {"calibrator": c.to_dict(), "threshold": t}
                              for g, (c, t) in sorted(self.per_relation.items())}}


def group_ids(relations: np.ndarray, head_has_edge: np.ndarray) -> np.ndarray:
    """(relation, head already has an edge of it) -> one integer group id."""
    return np.asarray(relations, dtype=np.int64) * 2 + np.asarray(head_has_edge, dtype=np.int64)


def group_name(group: int, rel_names: list[str]) -> str:
    return f"{rel_names[group // 2]}|{'head has one' if group % 2 else 'head has none'}"


def fit_relation_calibration(scores: np.ndarray, labels: np.ndarray, relations: np.ndarray, *, method: str,
                             target_precision: float) -> tuple[RelationCalibration, dict]:
    """relations: a group id per candidate (see group_ids). Returns the calibration and a report (candidates,
    positives, ECE and threshold per group)."""
    fallback = Calibrator(method=method).fit(scores, labels)
    fallback_threshold = threshold_for_precision(fallback.predict(scores), labels, target_precision)
    calibration = RelationCalibration(fallback, fallback_threshold)
    probs = np.empty_like(scores, dtype=float)
    report = {}
    for rel in np.unique(relations).tolist():
        m = relations == rel
        if m.sum() >= MIN_CANDIDATES and labels[m].sum() >= MIN_POSITIVES:
            own = Calibrator(method=method).fit(scores[m], labels[m])
            p = own.predict(scores[m])
            calibration.per_relation[rel] = (own, threshold_for_precision(p, labels[m], target_precision))
        probs[m] = calibration.predict(rel, scores[m])
        report[rel] = {"candidates": int(m.sum()), "positives": int(labels[m].sum()),
                       "own_calibrator": rel in calibration.per_relation, "threshold": calibration.threshold(rel),
                       "ece": float(expected_calibration_error(probs[m], labels[m]))}
    selected = np.zeros(len(scores), dtype=bool)
    for rel in np.unique(relations).tolist():
        t = calibration.threshold(rel)
        if t is not None:
            m = relations == rel
            selected[m] = probs[m] >= t
    summary = {"candidates": int(len(labels)), "positives": int(labels.sum()),
               "ece": float(expected_calibration_error(probs, labels)),
               "selected": int(selected.sum()),
               "selected_precision": float(labels[selected].mean()) if selected.any() else None}
    return calibration, {"summary": summary, "per_relation": report}
