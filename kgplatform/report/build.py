"""report.html in each run directory: learning curves, per-relation metrics, calibration, thresholds, edges.

render_report is pure (loaded data in, HTML string out); write_run_report reads a run directory and writes the
file atomically. Plots are base64 PNGs inside the HTML (drawn in report_sections.py), so the file is
self-contained: it can be mailed or archived with no CDN or side files.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .runs import write_json

POINTS = "calibration_points.npz"  # validation candidates: probability, label, group (train step)
HISTOGRAM = "candidate_histogram.json"  # write-time candidates per group, merged over shards (write-back)
REPORT = "report.html"
SECTIONS = {"learning-curves": "Learning curves", "per-relation": "Test metrics per relation",
            "reliability": "Reliability on validation", "precision-threshold": "Precision vs threshold (validation)",
            "edges-at-threshold": "Edges written vs threshold (write-time candidates)"}


# ---- artefacts the steps save ----------------------------------------------------------------------------------

def save_points(out: Path, points: dict) -> None:
    tmp = out / (POINTS + ".tmp")
    with tmp.open("wb") as f:  # a file object: np.savez would append .npz to a tmp name
        np.savez(f, **points)
    tmp.replace(out / POINTS)


def hist_file(out: Path, shard: int, num_shards: int) -> Path:
    return out / "scores" / f"shard-{shard:03d}-of-{num_shards:03d}.hist.json"


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


def render_report(data: dict) -> str:
    """data: what load_run returns (every key optional); a section without its data says so instead."""
    from .report_sections import (CSS, edges_at_threshold, esc, header, learning_curves, per_relation,
                                  precision_threshold, reliability)

    cfg, train = data.get("config") or {}, (data.get("steps") or {}).get("train") or {}
    bodies = {"learning-curves": learning_curves(data.get("history") or [], train.get("best_epoch"),
                                                 train.get("members")),
              "per-relation": per_relation(data.get("test") or {}),
              "reliability": reliability(data.get("points")),
              "precision-threshold": precision_threshold(data.get("points"), data.get("calibration") or {}),
              "edges-at-threshold": edges_at_threshold(data.get("histogram"), data.get("written"),
                                                       cfg.get("max_edges"))}
    sections = "".join(f'<section id="{sid}"><h2>{i}. {esc(SECTIONS[sid])}</h2>{bodies[sid]}</section>'
                       for i, sid in enumerate(SECTIONS, 1))
    title = f"kgplatform run {esc(data.get('run_id'))}"
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title><style>{CSS}</style></head>'
            f'<body><h1>{title}</h1><section id="header">{header(data)}</section>{sections}</body></html>\n')


# ---- the run directory ------------------------------------------------------------------------------------------

def load_run(out: Path) -> dict:
    def read(name: str):
        return json.loads((out / name).read_text()) if (out / name).is_file() else None

    steps = {p.name[len("step-"):-len(".json")]: json.loads(p.read_text()) for p in sorted(out.glob("step-*.json"))}
    train = steps.get("train") or {}
    points = None
    if (out / POINTS).is_file():
        with np.load(out / POINTS, allow_pickle=False) as z:
            points = {k: z[k] for k in z.files}
    return {"run_id": out.name, "config": read("config.json") or {}, "steps": steps,
            "history": train.get("history"), "test": train.get("test"), "calibration": train.get("calibration"),
            "points": points, "histogram": read(HISTOGRAM),
            "written": (steps.get("writeback") or {}).get("written_per_type")}


def write_run_report(out: Path, num_shards: int | None = None) -> Path:
    """Merge the score shards' histograms (when all are there), then render report.html atomically."""
    if num_shards is None and (out / "metrics.json").is_file():
        num_shards = json.loads((out / "metrics.json").read_text()).get("score_shards")
    shards = [hist_file(out, i, num_shards) for i in range(num_shards or 0)]
    if shards and all(p.is_file() for p in shards):
        write_json(out / HISTOGRAM, merge_histograms([json.loads(p.read_text()) for p in shards]))
    tmp = out / (REPORT + ".tmp")
    tmp.write_text(render_report(load_run(out)))
    tmp.replace(out / REPORT)
    return out / REPORT


def try_write_report(out: Path, num_shards: int | None = None) -> dict:
    """For write-back: the report is a by-product, so a failure is recorded in the step summary, never raised."""
    try:
        return {"report": str(write_run_report(out, num_shards).resolve())}
    except Exception as exc:  # noqa: BLE001 - any rendering problem must leave the completed run intact
        return {"report_error": f"{type(exc).__name__}: {exc}"}
