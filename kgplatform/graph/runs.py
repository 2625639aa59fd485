"""Run ids, run directories and the (:KgpRun) node: everything needed to trace a written edge to its model and data."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

from .errors import KgpError
from .store import GraphStore, run


def new_run_id() -> str:
    return time.strftime("run-%Y%m%d-%H%M%S-", time.gmtime()) + secrets.token_hex(3)


def run_dir(runs_root: Path, run_id: str) -> Path:
    path = runs_root / run_id
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_json(path: Path, value) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(value, indent=2, sort_keys=True, default=str))
    tmp.replace(path)  # never leave a half-written file behind


def read_json(path: Path):
    return json.loads(path.read_text())


def record_run(store: GraphStore, *, run_id: str, model: str, config: dict, metrics: dict, counts: dict,
               status: str, snapshot_hash: str, method: str) -> None:
    run(store, "runs/merge_run", {
        "run_id": run_id, "model": model, "config": json.dumps(config, sort_keys=True, default=str),
        "metrics": json.dumps(metrics, sort_keys=True, default=str), "counts": json.dumps(counts, sort_keys=True),
        "status": status, "snapshot_hash": snapshot_hash, "method": method})


def list_runs(store: GraphStore) -> list[dict]:
    rows = run(store, "runs/list_runs", read_only=True)
    return [{**r, "counts": json.loads(r["counts"] or "{}")} for r in rows]


def show_run(store: GraphStore, run_id: str, runs_root: Path | None = None) -> dict:
    rows = run(store, "runs/get_run", {"run_id": run_id}, read_only=True)
    if not rows:
        raise KgpError(f"no run {run_id!r} in the store; `kgp runs list` shows the runs")
    row = rows[0]
    out = {**row, **{k: json.loads(row[k] or "{}") for k in ("config", "metrics", "counts")}}
    out["edges"] = run(store, "runs/count_run_edges", {"run_id": run_id}, read_only=True)
    if runs_root is not None and (runs_root / run_id).is_dir():
        out["run_dir"] = str((runs_root / run_id).resolve())
        report = runs_root / run_id / "report.html"  # written at the end of write-back (kgplatform/report.py)
        out["report"] = str(report.resolve()) if report.is_file() else None
    return out


def retract_run(store: GraphStore, run_id: str, *, include_accepted: bool = False, include_rejected: bool = False,
                batch: int = 5000) -> dict:
    """Delete exactly this run's predicted relationships, type by type, in batches; asserted facts can't match."""
    show_run(store, run_id)  # fails clearly for an unknown run
    removed = {}
    for row in run(store, "runs/run_rel_types", {"run_id": run_id}, read_only=True):
        rel_type = row["rel_type"]
        removed[rel_type] = 0
        while True:
            n = run(store, "runs/retract_batch", {"run_id": run_id, "batch": batch,
                                                  "include_accepted": include_accepted,
                                                  "include_rejected": include_rejected},
                    rel_type=rel_type)[0]["count"]
            removed[rel_type] += n
            if n < batch:
                break
    run(store, "runs/set_status", {"run_id": run_id, "status": "retracted"})
    return {"run_id": run_id, "removed": removed, "total_removed": sum(removed.values())}
