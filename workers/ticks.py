"""Incremental ticks in the worker deployment: one at a time per graph, and retraining when drift says so (the
link predictor's guard after a tick, the recommender's on its own beat entry: `workers.tasks.rec_drift`).

The beat entry `score-new` (KGP_INCREMENTAL_INTERVAL_S) sends `workers.tasks.score_new`; ingest services may send
it too, right after a write, for the lowest latency. A tick that finds another one running is skipped: the
running one, or the next, picks the changes up (the watermark only moves after write-back).
"""

from __future__ import annotations

import uuid

from kgplatform.errors import KgpError
from kgplatform.pipeline.config import PipelineConfig
from kgplatform.pipeline.rundir import RunDir
from kgplatform.pipeline.runstore import open_run
from kgplatform.settings import Settings
from workers import jobs

TICK_LOCK_TTL_S = 600  # longer than any tick; a worker that dies holding it frees the graph after this
RETRAIN_MARK_TTL_S = 7 * 24 * 3600


def tick_lock_key(graph: str) -> str:
    return f"kgp:lock:incremental:{graph}"


def acquire_tick(settings: Settings, graph: str) -> str | None:
    """A token when this tick may run, None when another tick on the graph holds the lock."""
    token = uuid.uuid4().hex
    return token if jobs.client(settings).set(tick_lock_key(graph), token, nx=True, ex=TICK_LOCK_TTL_S) else None


def release_tick(settings: Settings, graph: str, token: str) -> None:
    jobs.release_if_held(settings, tick_lock_key(graph), token)


def schedule_retraining(settings: Settings, graph: str, base_run: str, reasons: list[str], *,
                        kind: str = "pipeline") -> dict:
    """Submit one job per base run, with the base run's configuration, and say why. kind: 'pipeline' (link
    prediction, the incremental drift guard) or 'recommend' (the recommender's drift guard, pipeline/recdrift.py)."""
    mark = f"kgp:retrain:{graph}:{base_run}"
    r = jobs.client(settings)
    if not r.set(mark, "pending", nx=True, ex=RETRAIN_MARK_TTL_S):
        return {"submitted": None, "note": f"retraining for base run {base_run} was already scheduled",
                "job_id": r.get(mark)}
    try:
        out = open_run(settings, base_run, RunDir.CONFIG)
        if kind == "recommend":
            record = jobs.submit_recommend(settings, out.load_rec_config(), graph=graph)
        else:
            cfg: PipelineConfig = out.load_config()
            record = jobs.submit_pipeline(settings, cfg, graph=graph)
    except KgpError as exc:  # the graph is busy (a job holds its lock): try again on a later tick
        r.delete(mark)
        return {"submitted": None, "note": str(exc)}
    r.set(mark, record["job_id"], ex=RETRAIN_MARK_TTL_S)
    return {"submitted": record["job_id"], "reasons": reasons}
