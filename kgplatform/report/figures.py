"""The numbers behind the report's plots, computed from a run's validation candidates and score histograms."""

from __future__ import annotations

import numpy as np


def merge_histograms(shards: list[dict]) -> dict:
    """Shards split the heads, so per group the counts simply add up."""
    merged: dict = {}
    for shard in shards:
        for name, g in shard.items():
            m = merged.setdefault(name, {**g, "candidates": 0, "at_threshold": 0, "counts": [0] * len(g["counts"])})
            m["candidates"] += g["candidates"]
            m["at_threshold"] += g["at_threshold"]
            m["counts"] = [a + b for a, b in zip(m["counts"], g["counts"])]
    return merged


# ---- the numbers behind the plots -----------------------------------------------------------------------------

def reliability_bins(probs, labels, bins: int = 10) -> list[dict]:
    """Equal-width bins (as expected_calibration_error): count, mean probability and observed positive rate."""
    p, y = np.asarray(probs, dtype=float), np.asarray(labels, dtype=float)
    idx = np.minimum((p * bins).astype(int), bins - 1)
    return [{"lo": b / bins, "hi": (b + 1) / bins, "count": int((idx == b).sum()),
             "mean_p": float(p[idx == b].mean()) if (idx == b).any() else None,
             "rate": float(y[idx == b].mean()) if (idx == b).any() else None} for b in range(bins)]

def ece_of(bins: list[dict]) -> float:
    n = sum(b["count"] for b in bins)
    return sum(b["count"] / n * abs(b["rate"] - b["mean_p"]) for b in bins if b["count"]) if n else 0.0

def precision_curve(probs, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """At each distinct probability t (descending): precision and size of the set with p >= t."""
    p, y = np.asarray(probs, dtype=float), np.asarray(labels, dtype=float)
    order = np.argsort(-p, kind="stable")
    p, y = p[order], y[order]
    last = np.r_[p[1:] != p[:-1], True]  # p >= t takes every tie of t
    n = np.arange(1, len(p) + 1)
    return p[last], (np.cumsum(y) / n)[last], n[last]

def at_least(counts: list[int]) -> np.ndarray:
    """Candidates with p >= i/bins for each bin i (exact at bin edges, up to float rounding of p)."""
    return np.cumsum(np.asarray(counts)[::-1])[::-1]
