"""Jobs as users see them: submit, status, list, cancel; plus the one-job-per-graph lock.

Two kinds of job run the same five steps: `pipeline` (link prediction, workers.tasks.export ...) and `recommend`
(workers.tasks.rec_export ...). A job is one run: its id is the run id, and its tasks have fixed ids
`<job>.export`, `<job>.featurize`, `<job>.train`, `<job>.score-NNN`, `<job>.writeback` whatever its kind, so status
is read straight from Celery's result backend. A `finetune` job is one task, `<job>.finetune`
(workers.tasks.text_finetune, on the gpu queue); it reads the graph and writes nothing to it, so it takes no lock.
A `discover` job is one task too, `<job>.discover` (workers.tasks.text_discover, gpu queue); it writes proposed
entities and links, so it holds the graph's lock like a pipeline.
A small record per job (kind, graph, shards, submit time, cancelled) and the locks live in the result backend's
Redis.
"""

from __future__ import annotations

import functools
import gc
import json
import time

import redis
from celery import Celery, chain, chord, group

from kgplatform.errors import JobError, KgpError
from kgplatform.graph.runs import check_run_id, new_run_id
from kgplatform.pipeline.config import PipelineConfig
from kgplatform.pipeline.discover_step import DiscoverConfig
from kgplatform.recommend.config import RecRunConfig
from kgplatform.settings import Settings, check_graph_name
from kgplatform.text.finetune import FinetuneConfig
from workers.app import app as default_app
from workers.app import make_app

JOBS_INDEX = "kgp:jobs"
RECORD_TTL_S = 30 * 24 * 3600
LOCK_TTL_S = 7 * 24 * 3600  # a safety net only: a lock whose job has ended is taken over at once
TERMINAL = {"SUCCESS", "FAILURE", "REVOKED"}
STEPS = ("export", "featurize", "train", "score", "writeback")
JOB_STEPS = {"pipeline": STEPS, "recommend": STEPS, "finetune": ("finetune",), "discover": ("discover",)}
TASK_PREFIX = {"pipeline": "workers.tasks.", "recommend": "workers.tasks.rec_",
               "finetune": "workers.tasks.text_", "discover": "workers.tasks.text_"}  # job kind -> its tasks' names
WRITES_GRAPH = {"pipeline", "recommend", "discover"}  # kinds that hold the graph's lock
SINGLE_TASK = {kind for kind, steps in JOB_STEPS.items() if len(steps) == 1}  # one task, named after its step
HEARTBEAT_TASKS = {f"{TASK_PREFIX[kind]}{step}" for kind, steps in JOB_STEPS.items() for step in steps}
MAX_SHARDS = 256

# Delete the lock only if this job still holds it (never another job's).
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


@functools.lru_cache(maxsize=8)
def _app_for(broker: str, results: str, settings_json: str) -> Celery:
    return make_app(Settings.model_validate_json(settings_json))


def celery_app(settings: Settings) -> Celery:
    """The Celery app for these settings' broker (the worker's own app when they match, as they do in use)."""
    if (settings.broker, settings.results) == (default_app.conf.broker_url, default_app.conf.result_backend):
        return default_app
    return _app_for(settings.broker, settings.results, settings.model_dump_json(by_alias=True))


def client(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(settings.results, decode_responses=True)


def record_key(job_id: str) -> str:
    return f"kgp:job:{job_id}"


def lock_key(graph: str) -> str:
    return f"kgp:lock:pipeline:{graph}"


def task_id(job_id: str, step: str, shard: int | None = None) -> str:
    return f"{job_id}.{step}" if shard is None else f"{job_id}.{step}-{shard:03d}"


def get_record(settings: Settings, job_id: str) -> dict:
    try:
        check_run_id(job_id)
    except KgpError:
        raise JobError(f"invalid job id {str(job_id)[:80]!r}: `kgp jobs list` shows the jobs") from None
    raw = client(settings).get(record_key(job_id))
    if raw is None:
        raise JobError(f"no job {job_id!r} (records are kept {RECORD_TTL_S // 86400} days); `kgp jobs list` shows "
                       "the jobs")
    return json.loads(raw)


# ---- submit ------------------------------------------------------------------------------------------------------

def submit_pipeline(settings: Settings, cfg: PipelineConfig, *, graph: str | None = None,
                    num_shards: int | None = None) -> dict:
    """Queue export -> featurize -> train -> chord(score shards) -> write-back; refuse if the graph is busy."""
    return submit_job(settings, "pipeline", cfg.model_dump(), graph=graph, num_shards=num_shards)


def submit_recommend(settings: Settings, cfg: RecRunConfig, *, graph: str | None = None,
                     num_shards: int | None = None) -> dict:
    """Queue the recommendation run (pipeline/recsteps.py) as the same chain, scoring sharded by users; the same
    per-graph lock as a pipeline job (both write the graph)."""
    return submit_job(settings, "recommend", cfg.model_dump(), graph=graph, num_shards=num_shards)


def submit_finetune(settings: Settings, cfg: FinetuneConfig, *, graph: str | None = None) -> dict:
    """Queue the text encoder's fine-tuning on the graph (pipeline/finetune_step.py) on the gpu queue."""
    return submit_job(settings, "finetune", cfg.model_dump(), graph=graph, num_shards=1)


def submit_discover(settings: Settings, cfg: DiscoverConfig, *, graph: str | None = None) -> dict:
    """Queue entity discovery on the graph (pipeline/discover_step.py) on the gpu queue; holds the graph's lock."""
    return submit_job(settings, "discover", cfg.model_dump(), graph=graph, num_shards=1)


def submit_job(settings: Settings, kind: str, config: dict, *, graph: str | None = None,
               num_shards: int | None = None) -> dict:
    """One job of ``kind`` (TASK_PREFIX) with the run config ``config`` (what its export task takes)."""
    app, prefix = celery_app(settings), TASK_PREFIX[kind]  # an unknown kind fails here, before the lock

    def step(name: str, task_id: str, **kwargs):
        return app.signature(f"{prefix}{name}", kwargs={**ids, **kwargs}, immutable=True).set(task_id=task_id)

    graph = graph or settings.graph_name
    try:  # refused here, not by the worker (a refused task ends no job and frees no lock)
        check_graph_name(graph)
    except ValueError as exc:
        raise JobError(str(exc)) from None
    num_shards = num_shards or settings.score_shards
    if isinstance(num_shards, bool) or not isinstance(num_shards, int) or not 1 <= num_shards <= MAX_SHARDS:
        raise JobError(f"num_shards must be an integer from 1 to {MAX_SHARDS}, got {num_shards!r}")
    job_id = new_run_id()
    if kind in WRITES_GRAPH:
        acquire_lock(settings, graph, job_id)
    record = {"job_id": job_id, "run_id": job_id, "kind": kind, "graph": graph, "num_shards": num_shards,
              "submitted_at": time.time(), "cancelled": False, "config": config}
    r = client(settings)
    r.set(record_key(job_id), json.dumps(record), ex=RECORD_TTL_S)
    r.zadd(JOBS_INDEX, {job_id: record["submitted_at"]})
    ids = {"job_id": job_id, "graph": graph}
    if kind in SINGLE_TASK:
        (only,) = JOB_STEPS[kind]
        workflow = step(only, task_id(job_id, only), config=config)
    else:
        scores = group(step("score", task_id(job_id, "score", i), shard=i, num_shards=num_shards)
                       for i in range(num_shards))
        workflow = chain(
            step("export", task_id(job_id, "export"), config=config),
            step("featurize", task_id(job_id, "featurize")),
            step("train", task_id(job_id, "train")),
            chord(scores, step("writeback", task_id(job_id, "writeback"), num_shards=num_shards)),
        )
    try:
        submitted = workflow.apply_async()
        # Nobody waits on it here: let the result objects go (and unsubscribe) now, not at interpreter exit.
        del submitted
        gc.collect()
    except Exception:
        release_lock(settings, graph, job_id)
        r.delete(record_key(job_id))
        r.zrem(JOBS_INDEX, job_id)
        raise
    return record


def acquire_lock(settings: Settings, graph: str, job_id: str) -> None:
    r = client(settings)
    key = lock_key(graph)
    if r.set(key, job_id, nx=True, ex=LOCK_TTL_S):
        return
    holder = r.get(key)
    if holder is not None:
        try:
            holder_status = job_status(settings, holder)
        except JobError:  # the holder's record expired: the lock is stale
            holder_status = {"state": "FAILURE"}
        if holder_status["state"] not in TERMINAL:
            raise JobError(
                f"graph {graph!r} already has a {holder_status['kind']} job running: {holder} "
                f"({holder_status['state']}, step "
                f"{holder_status['step']}). One training job per graph at a time: follow it with "
                f"`kgp jobs status {holder} --follow`, or cancel it with `kgp jobs cancel {holder}`.")
    with r.pipeline() as pipe:  # take over the stale lock unless someone else did meanwhile
        try:
            pipe.watch(key)
            if pipe.get(key) != holder:
                raise redis.WatchError
            pipe.multi()
            pipe.set(key, job_id, ex=LOCK_TTL_S)
            pipe.execute()
        except redis.WatchError:
            raise JobError(f"graph {graph!r}: another job was submitted at the same moment; try again") from None


def release_if_held(settings: Settings, key: str, token: str) -> bool:
    """Delete the lock ``key`` only if ``token`` still holds it (never another holder's)."""
    return bool(client(settings).eval(_RELEASE, 1, key, token))


def release_lock(settings: Settings, graph: str, job_id: str) -> bool:
    return release_if_held(settings, lock_key(graph), job_id)


def lock_holder(settings: Settings, graph: str) -> str | None:
    return client(settings).get(lock_key(graph))


# ---- status ------------------------------------------------------------------------------------------------------

def step_queue(kind: str, step: str) -> str:
    """The queue a job step's task is routed to (workers/app.py's task_routes)."""
    routes = default_app.conf.task_routes or {}
    return (routes.get(f"{TASK_PREFIX[kind]}{step}") or {}).get("queue", default_app.conf.task_default_queue)


def step_metas(settings: Settings, job_id: str, num_shards: int,
               kind: str = "pipeline") -> list[tuple[str, list[dict]]]:
    """Each step's task meta ({task_id, status, result}) straight from the result backend (no result objects:
    they subscribe to pub/sub channels a short-lived CLI never needs)."""
    backend = celery_app(settings).backend

    def meta(step, shard=None):
        tid = task_id(job_id, step, shard)
        return {"task_id": tid, **backend.get_task_meta(tid)}

    return [(step, [meta(step, i) for i in range(num_shards)] if step == "score" else [meta(step)])
            for step in JOB_STEPS[kind]]


def error_text(result) -> str:
    if isinstance(result, dict) and "exc_type" in result:
        message = result.get("exc_message")
        message = " ".join(map(str, message)) if isinstance(message, (list, tuple)) else str(message)
        return f"{result['exc_type']}: {message}"
    return str(result)


def step_state(metas: list[dict]) -> tuple[str, dict]:
    """One state for a step (shards: all done -> SUCCESS, any failed -> FAILURE, else the busiest state)."""
    states = [m["status"] for m in metas]
    if all(s == "SUCCESS" for s in states):
        return "SUCCESS", {"current": len(states), "total": len(states)}
    for bad in ("FAILURE", "REVOKED"):
        if bad in states:
            return bad, {"error": error_text(metas[states.index(bad)]["result"])}
    if len(metas) == 1:
        result = metas[0]["result"]
        return states[0], (result if states[0] == "PROGRESS" and isinstance(result, dict) else {})
    done = states.count("SUCCESS")
    busy = next((s for s in ("PROGRESS", "RETRY", "STARTED") if s in states), "PENDING")
    return ("PROGRESS" if done and busy == "PENDING" else busy), {"stage": "score shards", "current": done,
                                                                  "total": len(states)}


def job_status(settings: Settings, job_id: str) -> dict:
    """Celery's state for the job as a whole, the step it is at, and that step's progress."""
    record = get_record(settings, job_id)
    steps, state, step, detail = [], None, None, {}
    kind = record.get("kind", "pipeline")
    metas = step_metas(settings, job_id, record["num_shards"], kind)
    for name, step_meta in metas:
        s, info = step_state(step_meta)
        steps.append({"step": name, "state": s})
        if state is None and s != "SUCCESS":
            state, step, detail = s, name, info
    if state is None:
        state, step = "SUCCESS", "done"
        detail = {"current": 1, "total": 1}
    elif state == "PENDING" and step != JOB_STEPS[kind][0]:
        state = "STARTED"  # earlier steps finished; the next one waits in its queue
    if record.get("cancelled") and state not in ("SUCCESS", "FAILURE"):
        state = "REVOKED"
    out = {"job_id": job_id, "run_id": record["run_id"], "kind": kind,
           "graph": record["graph"], "state": state, "step": step,
           "stage": detail.get("stage", step),
           "progress": {"current": int(detail.get("current", 0)), "total": int(detail.get("total", 0))},
           "steps": steps, "num_shards": record["num_shards"], "submitted_at": record["submitted_at"],
           "cancelled": bool(record.get("cancelled"))}
    if "error" in detail:
        out["error"] = detail["error"]
    if state == "SUCCESS":
        out["result"] = metas[-1][1][0]["result"]
    return out


def list_jobs(settings: Settings, limit: int = 50) -> list[dict]:
    r = client(settings)
    out = []
    for job_id in r.zrevrange(JOBS_INDEX, 0, limit - 1):
        try:
            out.append(job_status(settings, job_id))
        except JobError:
            r.zrem(JOBS_INDEX, job_id)  # record expired
    return out


# ---- cancel ------------------------------------------------------------------------------------------------------

def is_cancelled(settings: Settings, job_id: str) -> bool:
    raw = client(settings).get(record_key(job_id))
    return bool(raw and json.loads(raw).get("cancelled"))


def cancel_job(settings: Settings, job_id: str) -> dict:
    """Flag the job, revoke its queued tasks; the running step stops at its next progress report.

    The worker that stops it (or discards a revoked task) marks the run 'cancelled' and releases the lock.
    """
    status = job_status(settings, job_id)
    if status["state"] in TERMINAL:
        raise JobError(f"job {job_id} has already ended ({status['state']}); nothing to cancel")
    record = get_record(settings, job_id)
    record["cancelled"] = True
    client(settings).set(record_key(job_id), json.dumps(record), keepttl=True)
    metas = step_metas(settings, job_id, record["num_shards"], record.get("kind", "pipeline"))
    ids = [m["task_id"] for _, step_meta in metas for m in step_meta if m["status"] not in TERMINAL]
    celery_app(settings).control.revoke(ids)
    return {"job_id": job_id, "run_id": record["run_id"], "revoked_tasks": len(ids),
            "running_step": status["step"] if status["state"] in ("STARTED", "PROGRESS", "RETRY") else None}


# ---- heartbeats and reclaiming a dead worker's task --------------------------------------------------------------

def alive_key(task_id: str) -> str:
    return f"kgp:alive:{task_id}"


def beat(settings: Settings, task_id: str, worker: str) -> None:
    """This task runs (on ``worker``) for at least three more heartbeats."""
    client(settings).set(alive_key(task_id), worker, px=int(settings.task_heartbeat_s * 3000))


def stop_beating(settings: Settings, task_id: str) -> None:
    client(settings).delete(alive_key(task_id))


def reclaim_orphans(settings: Settings, *, grace_s: float | None = None) -> list[str]:
    """Hand back to their queues the delivered, unacknowledged task messages whose task shows no heartbeat.

    With late acknowledgement a message stays in the broker's 'unacked' set while its task runs; Redis would only
    restore it after the visibility timeout (hours, so that no healthy long task is ever run twice). A task
    whose heartbeat has expired has no process running it any more, so its message is restored now (kombu's
    restore_by_tag). ``grace_s`` covers a message delivered but not yet started. Returns the reclaimed task ids.
    """
    grace_s = settings.reclaim_grace_s if grace_s is None else grace_s
    app = celery_app(settings)
    results = client(settings)
    reclaimed = []
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        broker = channel.client
        now = time.time()
        for tag, raw in broker.hgetall(channel.unacked_key).items():
            since = broker.zscore(channel.unacked_index_key, tag)
            if since is None or now - since < grace_s:
                continue
            headers = json.loads(raw)[0].get("headers") or {}
            task = headers.get("id")
            if headers.get("task") not in HEARTBEAT_TASKS or results.exists(alive_key(task)):
                continue  # only the pipeline steps beat; other tasks wait for the visibility timeout
            channel.qos.restore_by_tag(tag)
            reclaimed.append(task or (tag.decode() if isinstance(tag, bytes) else tag))
    return reclaimed
