"""The (:KgpRun) node of each prediction run: everything needed to trace a written edge to its model and data."""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import time
from pathlib import Path

from kgplatform.errors import KgpError
from kgplatform.graph.schema import relation_registry
from kgplatform.graph.store import GraphStore, execute
from kgplatform.graph.vectors import remove_embeddings

RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


def new_run_id() -> str:
    return time.strftime("run-%Y%m%d-%H%M%S-", time.gmtime()) + secrets.token_hex(3)


def check_run_id(run_id: str) -> str:
    """A run id is a single path component: letters, digits, '.', '_', '-' (never '/', never a leading dot)."""
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.fullmatch(run_id):  # fullmatch: "$" admits a final \n
        raise KgpError(f"invalid run id {str(run_id)[:80]!r}: must match {RUN_ID_PATTERN.pattern}")
    return run_id


def record_run(store: GraphStore, *, run_id: str, model: str, config: dict, metrics: dict, counts: dict,
               status: str, snapshot_hash: str, method: str, owner: str | None = None) -> None:
    """owner: process_owner() of an in-process run, so that a run its dead process left 'running' is found."""
    execute(store, "runs/merge_run", {
        "run_id": run_id, "model": model, "config": json.dumps(config, sort_keys=True, default=str),
        "metrics": json.dumps(metrics, sort_keys=True, default=str), "counts": json.dumps(counts, sort_keys=True),
        "status": status, "snapshot_hash": snapshot_hash, "method": method, "owner": owner})


def process_owner(pid: int | None = None) -> str:
    """'host:pid:start' of a process (this one by default): the start time tells a reused pid apart."""
    pid = pid or os.getpid()
    return f"{socket.gethostname()}:{pid}:{process_start(pid)}"


def process_start(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux /proc), or '' where that is not available."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def owner_is_dead(owner: str) -> bool:
    """True only when the owner ran on this host and its process is gone (another host's runs are left alone)."""
    host, _, rest = owner.partition(":")
    pid, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return bool(start) and process_start(int(pid)) != start  # the pid now belongs to another process


def fail_dead_runs(store: GraphStore) -> list[str]:
    """Mark 'failed' the runs whose owning process died (killed, or its store went away during write-back);
    their partial edges stay retractable with `kgp runs retract`. Returns their ids."""
    dead = [r["run_id"] for r in execute(store, "runs/running_runs", read_only=True) if owner_is_dead(r["owner"])]
    for run_id in dead:
        execute(store, "runs/set_status", {"run_id": run_id, "status": "failed"})
    return dead


def list_runs(store: GraphStore) -> list[dict]:
    rows = execute(store, "runs/list_runs", read_only=True)
    return [{**r, "counts": json.loads(r["counts"] or "{}")} for r in rows]


def show_run(store: GraphStore, run_id: str) -> dict:
    rows = execute(store, "runs/get_run", {"run_id": run_id}, read_only=True)
    if not rows:
        raise KgpError(f"no run {run_id!r} in the store; `kgp runs list` shows the runs")
    row = rows[0]
    out = {**row, **{k: json.loads(row[k] or "{}") for k in ("config", "metrics", "counts")}}
    out["edges"] = execute(store, "runs/count_run_edges", {"run_id": run_id}, read_only=True)
    registry = relation_registry(store)
    out["relation_sources"] = {t: registry[t]["source_id"] for t in sorted({e["rel_type"] for e in out["edges"]})
                               if t in registry}  # each type's original relation id (a Freebase path, an IRI)
    return out


def retract_run(store: GraphStore, run_id: str, *, include_accepted: bool = False, include_rejected: bool = False,
                batch: int = 5000) -> dict:
    """Delete exactly this run's predicted relationships, type by type, in batches; asserted facts can't match."""
    show_run(store, run_id)  # fails clearly for an unknown run
    removed = {}
    for row in execute(store, "runs/run_rel_types", {"run_id": run_id}, read_only=True):
        rel_type = row["rel_type"]
        removed[rel_type] = 0
        while True:
            n = execute(store, "runs/retract_batch", {"run_id": run_id, "batch": batch,
                                                  "include_accepted": include_accepted,
                                                  "include_rejected": include_rejected},
                    rel_type=rel_type)[0]["count"]
            removed[rel_type] += n
            if n < batch:
                break
    embeddings = remove_embeddings(store, run_id=run_id, batch=batch)  # a recommendation run's vectors
    entities = 0  # a discovery run's proposed entities, once their links are gone
    while True:
        n = execute(store, "runs/retract_proposed_entities", {"run_id": run_id, "batch": batch})[0]["count"]
        entities += n
        if n < batch:
            break
    execute(store, "runs/set_status", {"run_id": run_id, "status": "retracted"})
    return {"run_id": run_id, "removed": removed, "total_removed": sum(removed.values()),
            "embeddings_removed": embeddings, "entities_removed": entities}
