"""Thin Celery tasks: each opens the store if it needs it, runs one step of kgplatform.pipeline.steps (link
prediction) or kgplatform.pipeline.recsteps (recommendation, the rec_* tasks), reports progress.

Tasks take ids (job/run id, graph, shard) and return small summaries; artefacts stay in the run directory, which
all workers share: one KGP_HOME, or KGP_RUNS_URL, which each step pulls from and pushes to (runstore.synced_run).
Transient store errors are retried with exponential backoff; anything else fails
the job at once with its message, and the run is marked failed so `kgp runs retract` can clean it up.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import contextmanager

from celery import Task
from celery.signals import task_revoked

from kgplatform.errors import KgpError, TransientStoreError
from kgplatform.graph.runs import check_run_id, fail_dead_runs
from kgplatform.graph.store import open_store
from kgplatform.incremental.steps import BaseCache
from kgplatform.incremental.steps import score_new as tick
from kgplatform.pipeline import discover_step, finetune_step, recdrift, recsteps, steps
from kgplatform.pipeline.config import PipelineConfig
from kgplatform.pipeline.discover_step import DiscoverConfig
from kgplatform.pipeline.runstore import synced_run
from kgplatform.recommend.config import RecRunConfig
from kgplatform.settings import Settings, check_graph_name
from kgplatform.text.finetune import FinetuneConfig
from workers import jobs, ticks
from workers.app import app

log = logging.getLogger(__name__)
SETTINGS = Settings()
REPORT_EVERY_S = 0.5
DISCOVER_SUMMARY = ("run_id", "model", "entities_written", "links_written", "proposals", "tagger_valid_best")
FINETUNE_SUMMARY = ("encoder", "fingerprint", "valid", "test", "steps", "stopped", "finetune_s")


class JobCancelled(KgpError):
    """The job was cancelled with `kgp jobs cancel`."""


class Heartbeat:
    """Says every KGP_TASK_HEARTBEAT_S that this task still runs, from a thread of its own (a long torch step
    releases the GIL, so it keeps beating); a killed worker stops beating, and its task is reclaimed."""

    def __init__(self, task_id: str, worker: str):
        self.task_id, self.worker = task_id, f"{worker}:{os.getpid()}"
        self._stopped = threading.Event()
        jobs.beat(SETTINGS, task_id, self.worker)
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{task_id}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(SETTINGS.task_heartbeat_s):
            try:
                jobs.beat(SETTINGS, self.task_id, self.worker)
            except Exception as exc:  # the broker may be restarting: beat again next time
                log.warning("heartbeat of %s failed: %s", self.task_id, exc)

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)
        jobs.stop_beating(SETTINGS, self.task_id)


class ForgedTask(KgpError):
    """A task whose ids are not ids this platform makes (a path, a hostile string): refused before any work."""


def check_ids(kwargs: dict) -> None:
    """The job id must be a run id and the graph a graph name before either touches a file, a key or the store."""
    try:
        check_run_id(kwargs.get("job_id"))
        check_graph_name(kwargs.get("graph"))
    except (KgpError, ValueError) as exc:
        raise ForgedTask(f"refused task: {exc}") from None


@contextmanager
def store_for(graph: str):
    store = open_store(SETTINGS, graph=graph)
    try:
        yield store
    finally:
        store.close()


def end_job(job_id: str, graph: str, run_status: str | None) -> None:
    """Mark the run (if it exists) and free the graph for the next job; never masks the original error."""
    if run_status:
        try:
            with store_for(graph) as store:
                steps.mark_run(store, job_id, run_status)
        except Exception as exc:  # the store may be the thing that failed
            log.warning("job %s: could not mark run %s: %s", job_id, run_status, exc)
    jobs.release_lock(SETTINGS, graph, job_id)


class StepTask(Task):
    """Base of the pipeline steps: retries, progress reports, cancellation, failure bookkeeping."""

    autoretry_for = (TransientStoreError,)
    retry_backoff = 2
    retry_backoff_max = SETTINGS.retry_backoff_max_s
    retry_jitter = True
    max_retries = SETTINGS.task_max_retries
    acks_late = True

    def before_start(self, task_id, args, kwargs):
        check_ids(kwargs)
        if jobs.is_cancelled(SETTINGS, kwargs["job_id"]):
            raise JobCancelled(f"job {kwargs['job_id']} was cancelled")
        self._heart = Heartbeat(task_id, self.request.hostname or "worker")

    def after_return(self, status, retval, task_id, args, kwargs, einfo):
        heart = getattr(self, "_heart", None)
        if heart is not None:
            heart.stop()
            self._heart = None

    def progress(self, job_id: str, step: str):
        """A ProgressFn that becomes update_state('PROGRESS') and a task-progress event, at most every 0.5 s."""
        last = 0.0

        def report(stage: str, current: int, total: int, info: dict | None = None) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last < REPORT_EVERY_S and current < total:
                return
            last = now
            if jobs.is_cancelled(SETTINGS, job_id):
                raise JobCancelled(f"job {job_id} was cancelled during {step} ({stage} {current}/{total})")
            meta = {"job_id": job_id, "step": step, "stage": stage, "current": current, "total": total}
            self.update_state(state="PROGRESS", meta=meta)
            self.send_event("task-progress", **meta)

        return report

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        if isinstance(exc, ForgedTask):
            return  # its ids name no job of ours: nothing to mark or release
        status = "cancelled" if isinstance(exc, JobCancelled) else "failed"
        end_job(kwargs["job_id"], kwargs["graph"], status)


@task_revoked.connect
def on_revoked(request=None, **_) -> None:
    """A cancelled job's queued task was discarded: do the bookkeeping its on_failure would have done."""
    kwargs = getattr(request, "kwargs", None) or {}
    if "job_id" in kwargs and "graph" in kwargs:
        try:
            check_ids(kwargs)
        except ForgedTask:
            return
        end_job(kwargs["job_id"], kwargs["graph"], "cancelled")


@app.task(base=StepTask, bind=True, name="workers.tasks.export")
def export(self, *, job_id: str, graph: str, config: dict) -> dict:
    with store_for(graph) as store, synced_run(SETTINGS, job_id):
        summary = steps.export_step(store, SETTINGS, job_id, PipelineConfig(**config),
                                    self.progress(job_id, "export"))
    return {"job_id": job_id, "step": "export", **summary}


@app.task(base=StepTask, bind=True, name="workers.tasks.featurize")
def featurize(self, *, job_id: str, graph: str) -> dict:
    with synced_run(SETTINGS, job_id):
        summary = steps.featurize_step(SETTINGS, job_id, self.progress(job_id, "featurize"))
    return {"job_id": job_id, "step": "featurize", "seconds": summary["seconds"]}


@app.task(base=StepTask, bind=True, name="workers.tasks.train")
def train(self, *, job_id: str, graph: str) -> dict:
    with synced_run(SETTINGS, job_id):
        summary = steps.train_step(SETTINGS, job_id, self.progress(job_id, "train"))
    return {"job_id": job_id, "step": "train", "seconds": summary["seconds"], "test": summary["test"],
            "best_valid_mrr": summary["best_valid_mrr"]}


@app.task(base=StepTask, bind=True, name="workers.tasks.score")
def score(self, *, job_id: str, graph: str, shard: int, num_shards: int) -> dict:
    with synced_run(SETTINGS, job_id):
        summary = steps.score_step(SETTINGS, job_id, shard, num_shards, self.progress(job_id, f"score-{shard:03d}"))
    return {"job_id": job_id, "step": "score", **summary}


@app.task(base=StepTask, bind=True, name="workers.tasks.writeback")
def writeback(self, *, job_id: str, graph: str, num_shards: int) -> dict:
    with store_for(graph) as store, synced_run(SETTINGS, job_id):
        summary = steps.writeback_step(store, SETTINGS, job_id, num_shards, self.progress(job_id, "writeback"))
    jobs.release_lock(SETTINGS, graph, job_id)
    return {"job_id": job_id, "step": "writeback", **summary}


@app.task(base=StepTask, bind=True, name="workers.tasks.text_finetune")
def text_finetune(self, *, job_id: str, graph: str, config: dict) -> dict:
    """The text encoder fine-tuned on the graph (a job of one task; the encoder lands in this worker's KGP_HOME)."""
    with store_for(graph) as store:
        record = finetune_step.finetune_text_step(store, SETTINGS, FinetuneConfig(**config),
                                                  self.progress(job_id, "finetune"))
    return {"job_id": job_id, "step": "finetune", **{k: record[k] for k in FINETUNE_SUMMARY}}


@app.task(base=StepTask, bind=True, name="workers.tasks.text_discover")
def text_discover(self, *, job_id: str, graph: str, config: dict) -> dict:
    """Entities found in text, proposed into the graph under the job's run id; frees the graph at the end."""
    with store_for(graph) as store:
        summary = discover_step.discover_entities_step(store, SETTINGS, DiscoverConfig(**config),
                                                       self.progress(job_id, "discover"), run_id=job_id)
    jobs.release_lock(SETTINGS, graph, job_id)
    return {"job_id": job_id, "step": "discover", **{k: summary[k] for k in DISCOVER_SUMMARY}}


# ---- the recommendation chain (pipeline/recsteps.py): the same ids, base and bookkeeping ------------------------

@app.task(base=StepTask, bind=True, name="workers.tasks.rec_export")
def rec_export(self, *, job_id: str, graph: str, config: dict) -> dict:
    with store_for(graph) as store, synced_run(SETTINGS, job_id):
        summary = recsteps.rec_export_step(store, SETTINGS, job_id, RecRunConfig(**config),
                                           self.progress(job_id, "export"))
    return {"job_id": job_id, "step": "export", **summary}


@app.task(base=StepTask, bind=True, name="workers.tasks.rec_featurize")
def rec_featurize(self, *, job_id: str, graph: str) -> dict:
    with synced_run(SETTINGS, job_id):
        summary = recsteps.rec_featurize_step(SETTINGS, job_id, self.progress(job_id, "featurize"))
    return {"job_id": job_id, "step": "featurize", "seconds": summary["seconds"]}


@app.task(base=StepTask, bind=True, name="workers.tasks.rec_train")
def rec_train(self, *, job_id: str, graph: str) -> dict:
    with synced_run(SETTINGS, job_id):
        summary = recsteps.rec_train_step(SETTINGS, job_id, self.progress(job_id, "train"))
    return {"job_id": job_id, "step": "train", "seconds": summary["seconds"], "test": summary["test"],
            "best_valid": summary["best_valid"], "best_epoch": summary["best_epoch"]}


@app.task(base=StepTask, bind=True, name="workers.tasks.rec_score")
def rec_score(self, *, job_id: str, graph: str, shard: int, num_shards: int) -> dict:
    with synced_run(SETTINGS, job_id):
        summary = recsteps.rec_score_step(SETTINGS, job_id, shard, num_shards,
                                          self.progress(job_id, f"score-{shard:03d}"))
    return {"job_id": job_id, "step": "score", **summary}


@app.task(base=StepTask, bind=True, name="workers.tasks.rec_writeback")
def rec_writeback(self, *, job_id: str, graph: str, num_shards: int) -> dict:
    with store_for(graph) as store, synced_run(SETTINGS, job_id):
        summary = recsteps.rec_writeback_step(store, SETTINGS, job_id, num_shards, self.progress(job_id, "writeback"))
    jobs.release_lock(SETTINGS, graph, job_id)
    return {"job_id": job_id, "step": "writeback", **summary}


@app.task(name="workers.tasks.reconcile_jobs")
def reconcile_jobs() -> dict:
    """Beat: hand a dead worker's tasks back to their queues, and free the locks (and mark the runs) of jobs that
    ended without their failure handler running (e.g. a lost message)."""
    reclaimed = jobs.reclaim_orphans(SETTINGS)
    with store_for(SETTINGS.graph_name) as store:
        failed = fail_dead_runs(store)  # in-process runs on this host whose process died
    if reclaimed:
        log.warning("reclaimed the tasks of dead workers: %s", ", ".join(reclaimed))
    released = []
    for status in jobs.list_jobs(SETTINGS, limit=500):
        if status["state"] in ("FAILURE", "REVOKED") and \
                jobs.lock_holder(SETTINGS, status["graph"]) == status["job_id"]:
            end_job(status["job_id"], status["graph"], "cancelled" if status["cancelled"] else "failed")
            released.append(status["job_id"])
    return {"released": released, "reclaimed": reclaimed, "failed_runs": failed}


INCREMENTAL_CACHE = None  # this worker process's warm base run (kgplatform.incremental.steps.BaseCache)


@app.task(name="workers.tasks.score_new")
def score_new(graph: str | None = None) -> dict:
    """Beat (KGP_INCREMENTAL_INTERVAL_S) or sent after a write: one incremental tick (kgplatform/incremental/steps.py);
    skipped while another tick runs on the graph; schedules retraining when the drift guard says so."""
    global INCREMENTAL_CACHE
    graph = check_graph_name(graph or SETTINGS.graph_name)
    token = ticks.acquire_tick(SETTINGS, graph)
    if token is None:
        return {"status": "skipped", "reason": f"another incremental tick is running on {graph}"}
    try:
        INCREMENTAL_CACHE = INCREMENTAL_CACHE or BaseCache()
        with store_for(graph) as store:
            result = tick(store, SETTINGS, INCREMENTAL_CACHE)
        drift = result.get("drift") or {}
        if drift.get("retrain"):
            result["retraining"] = ticks.schedule_retraining(SETTINGS, graph, result["base_run"], drift["reasons"])
            log.warning("graph %s: retraining: %s", graph, "; ".join(drift["reasons"]))
        return result
    finally:
        ticks.release_tick(SETTINGS, graph, token)


@app.task(name="workers.tasks.scheduled_pipeline")
def scheduled_pipeline() -> dict:
    """Beat (KGP_SCHEDULE_PIPELINE_HOURS): complete KGP_GRAPH with the default config; skipped if it is busy."""
    try:
        return {"submitted": jobs.submit_pipeline(SETTINGS, PipelineConfig())["job_id"]}
    except KgpError as exc:
        return {"skipped": str(exc)}


@app.task(name="workers.tasks.scheduled_recommend")
def scheduled_recommend(graph: str | None = None) -> dict:
    """Beat (KGP_SCHEDULE_RECOMMEND_HOURS): a recommendation job for the graph with its newest run's config (the
    default config when it has none); skipped if the graph is busy."""
    graph = check_graph_name(graph or SETTINGS.graph_name)
    with store_for(graph) as store:
        cfg, base_run = recdrift.refresh_config(store, SETTINGS)
    try:
        return {"submitted": jobs.submit_recommend(SETTINGS, cfg, graph=graph)["job_id"], "config_of": base_run}
    except KgpError as exc:
        return {"skipped": str(exc)}


@app.task(name="workers.tasks.rec_drift")
def rec_drift(graph: str | None = None) -> dict:
    """Beat (KGP_REC_DRIFT_INTERVAL_S): the recommender's drift check (pipeline/recdrift.py); on 'retrain', one
    recommendation job per base run, with its config."""
    graph = check_graph_name(graph or SETTINGS.graph_name)
    with store_for(graph) as store:
        result = recdrift.check_recommendation_drift(store, SETTINGS)
    if result["retrain"]:
        result["retraining"] = ticks.schedule_retraining(SETTINGS, graph, result["base_run"], result["reasons"],
                                                         kind="recommend")
        log.warning("graph %s: retraining the recommender: %s", graph, "; ".join(result["reasons"]))
    return result
