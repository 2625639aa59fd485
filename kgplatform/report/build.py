"""report.html in each run directory: learning curves, per-relation metrics, calibration, thresholds, edges.

render_report is pure (loaded data in, HTML string out); write_run_report reads a run directory and writes the
file atomically. Plots are base64 PNGs inside the HTML (drawn in sections.py), so the file is self-contained:
it can be mailed or archived with no CDN or side files.
"""

from __future__ import annotations

from pathlib import Path

from kgplatform.pipeline.rundir import RunDir, write_text
from kgplatform.report.figures import merge_histograms
from kgplatform.report.sections import (
    CSS,
    edges_at_threshold,
    esc,
    header,
    learning_curves,
    per_relation,
    precision_threshold,
    reliability,
)

SECTIONS = {"learning-curves": "Learning curves", "per-relation": "Test metrics per relation",
            "reliability": "Reliability on validation", "precision-threshold": "Precision vs threshold (validation)",
            "edges-at-threshold": "Edges written vs threshold (write-time candidates)"}


def render_report(data: dict) -> str:
    """data: what load_run returns (every key optional); a section without its data says so instead."""
    cfg, train = data.get("config") or {}, (data.get("steps") or {}).get("train") or {}
    bodies = {"learning-curves": learning_curves(data.get("history") or [], train.get("best_epoch"),
                                                 train.get("members"), train.get("input_choice")),
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


# ---- the run directory ------------------------------------------------------------------------------------------

def load_run(out: RunDir) -> dict:
    steps = out.step_summaries()
    train = steps.get("train") or {}
    return {"run_id": out.run_id, "config": out.read_json(RunDir.CONFIG) or {}, "steps": steps,
            "history": train.get("history"), "test": train.get("test"), "calibration": train.get("calibration"),
            "points": out.load_points(), "histogram": out.read_json(RunDir.HISTOGRAM),
            "written": (steps.get("writeback") or {}).get("written_per_type")}


def write_run_report(out: RunDir, num_shards: int | None = None) -> Path:
    """Merge the score shards' histograms (when all are there), then render report.html atomically."""
    if num_shards is None:
        num_shards = (out.read_json(RunDir.METRICS) or {}).get("score_shards")
    shards = [out.hist_file(i, num_shards) for i in range(num_shards or 0)]
    if shards and all(p.is_file() for p in shards):
        out.write_json(RunDir.HISTOGRAM, merge_histograms([out.read_json(p) for p in shards]))
    write_text(out.file(RunDir.REPORT), render_report(load_run(out)))
    return out.file(RunDir.REPORT)


def try_write_report(out: RunDir, num_shards: int | None = None) -> dict:
    """For write-back: the report is a by-product, so a failure is recorded in the step summary, never raised."""
    try:
        return {"report": str(write_run_report(out, num_shards).resolve())}
    except Exception as exc:  # noqa: BLE001 - any rendering problem must leave the completed run intact
        return {"report_error": f"{type(exc).__name__}: {exc}"}
