"""Queue jobs on a real Celery worker process and the real Redis broker (the embedded FalkorDB's redis-server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from kgplatform.bench.worker_process import WorkerProcess as Worker
from kgplatform.demo.catalog import generate_catalog, write_dataset
from kgplatform.errors import JobError
from kgplatform.graph.runs import show_run
from kgplatform.graph.store import open_store
from kgplatform.ingest.load import ingest_path
from kgplatform.learn.config import TrainConfig
from kgplatform.pipeline.config import PipelineConfig
from kgplatform.pipeline.steps import writeback_step
from tests.support.brokers import client_settings, ended, flush_broker, job_env, wait_for
from tests.support.env import free_port
from workers import jobs

# Small, quick runs: the tests are about the queue, not model quality.
FAST = PipelineConfig(train=TrainConfig(time_budget_s=20, seed=1, dim=64), target_precision=0.5, max_edges=400)


@pytest.fixture(scope="module")
def catalog_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("jobs-catalog")
    write_dataset(generate_catalog(seed=3, n_products=160), folder)
    return folder


def loaded_store(settings, catalog_dir):
    store = open_store(settings)
    ingest_path(store, catalog_dir)
    return store


def run_edges(store, run_id):
    return store.query("MATCH (h)-[r]->(t) WHERE r.run_id = $run RETURN h.id AS h, type(r) AS type, t.id AS t",
                       {"run": run_id})


def asserted_count(store):
    return store.query("MATCH ()-[r]->() WHERE r.predicted IS NULL RETURN count(r) AS n")[0]["n"]


def predictions_file(settings, run_id):
    path = settings.runs_dir / run_id / "predictions.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line]


@pytest.fixture
def flower(worker_env, tmp_path):
    """Flower on the worker's broker, with its HTTP API open (as compose's flower service runs it)."""
    env, _ = worker_env
    port = free_port()
    log = open(tmp_path / "flower.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "workers", "flower", f"--port={port}",
                             "--address=127.0.0.1"], env={**os.environ, **env, "FLOWER_UNAUTHENTICATED_API": "true"},
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/healthcheck", timeout=2)
            break
        except OSError:
            assert time.monotonic() < deadline and proc.poll() is None, (tmp_path / "flower.log").read_text()
            time.sleep(0.3)
    yield url
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def flower_task(url: str, task_id: str) -> dict | None:
    try:
        with urllib.request.urlopen(f"{url}/api/task/info/{task_id}", timeout=5) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError:
        return None  # Flower has not seen the task yet


def flower_final_state(url: str, task_id: str, timeout_s: float = 30.0) -> str | None:
    """Flower learns of a task's end from an event that can trail the result backend; wait for it, bounded."""
    deadline = time.monotonic() + timeout_s
    while True:
        task = flower_task(url, task_id)
        state = task["state"] if task else None
        if state in ("SUCCESS", "FAILURE", "REVOKED") or time.monotonic() > deadline:
            return state
        time.sleep(0.2)


def test_submitted_pipeline_completes_reports_progress_and_writes_its_edges(worker_env, flower, settings,
                                                                           catalog_dir):
    env, worker = worker_env
    client = client_settings({**env, "KGP_GRAPH": settings.graph})
    store = loaded_store(settings, catalog_dir)
    before = asserted_count(store)
    # Submit through the CLI, as users do.
    submitted = subprocess.run(
        [sys.executable, "-m", "kgplatform.cli", "jobs", "submit", "pipeline", "--time-budget", "20",
         "--target-precision", "0.5", "--shards", "3", "--json"],
        env={**env, "KGP_GRAPH": settings.graph}, capture_output=True, text=True, timeout=120)
    assert submitted.returncode == 0, submitted.stderr
    job_id = json.loads(submitted.stdout)["job_id"]
    flower_seen = set()

    def watch_flower(status):  # Flower's view of the training task, alongside ours
        task = flower_task(flower, f"{job_id}.train")
        if task:
            flower_seen.add(task["state"])
        return ended(status)

    status, seen = wait_for(client, job_id, watch_flower)
    assert status["state"] == "SUCCESS", (status, worker.tail())
    assert ("PROGRESS", "train") in seen, seen  # update_state progress reached the client
    assert "PROGRESS" in flower_seen, flower_seen  # ... and Flower too, through the task-progress events
    assert flower_final_state(flower, f"{job_id}.writeback") == "SUCCESS"
    assert [s["state"] for s in status["steps"]] == ["SUCCESS"] * 5
    # Every shard ran as its own task, and write-back merged them.
    assert status["num_shards"] == 3
    shard_files = sorted((settings.runs_dir / job_id / "scores").glob("shard-*.jsonl"))
    assert [f.name for f in shard_files] == [f"shard-{i:03d}-of-003.jsonl" for i in range(3)]
    expected = {(p["head"], p["rel_type"], p["tail"]) for p in predictions_file(settings, job_id)}
    written = run_edges(store, job_id)
    assert expected and {(e["h"], e["type"], e["t"]) for e in written} == expected
    assert len(written) == len(expected)
    assert status["result"]["predicted"] == len(expected)
    assert asserted_count(store) == before
    assert show_run(store, job_id)["status"] == "completed"
    assert jobs.lock_holder(client, settings.graph) is None  # the graph is free again
    # The status command's JSON shape, for scripts.
    shown = subprocess.run([sys.executable, "-m", "kgplatform.cli", "jobs", "status", job_id, "--json"],
                           env={**env, "KGP_GRAPH": settings.graph}, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["state"] == "SUCCESS" and data["stage"] == "done" and data["progress"] == {"current": 1, "total": 1}
    assert job_id in [j["job_id"] for j in jobs.list_jobs(client)]
    store.delete_graph()


def test_second_training_job_on_a_graph_is_refused_and_a_cancelled_job_frees_it(worker_env, settings, catalog_dir):
    env, worker = worker_env
    client = client_settings({**env, "KGP_GRAPH": settings.graph})
    store = loaded_store(settings, catalog_dir)
    slow = FAST.model_copy(update={"train": TrainConfig(time_budget_s=60, seed=1, dim=64, patience=1000,
                                                        eval_every=1000)})
    first = jobs.submit_pipeline(client, slow)["job_id"]
    wait_for(client, first, lambda s: s["step"] == "train" and s["state"] == "PROGRESS")
    with pytest.raises(JobError, match=f"already has a pipeline job running: {first}"):
        jobs.submit_pipeline(client, FAST)
    assert jobs.lock_holder(client, settings.graph) == first
    cancelled = jobs.cancel_job(client, first)
    assert cancelled["running_step"] == "train"
    status, _ = wait_for(client, first, ended, timeout=120)
    assert status["state"] == "REVOKED"
    # The worker that stopped the job marked its run and freed the graph.
    wait_for(client, first, lambda s: jobs.lock_holder(client, settings.graph) is None, timeout=30)
    assert show_run(store, first)["status"] == "cancelled"
    assert run_edges(store, first) == []
    with pytest.raises(JobError, match="already ended"):
        jobs.cancel_job(client, first)
    second = jobs.submit_pipeline(client, FAST)["job_id"]  # accepted now
    status, _ = wait_for(client, second, ended)
    assert status["state"] == "SUCCESS", (status, worker.tail())
    store.delete_graph()


def test_worker_killed_during_writeback_is_redelivered_without_duplicates(base_settings, settings, catalog_dir,
                                                                          tmp_path):
    """SIGKILL mid write-back; a fresh worker gets the unacknowledged task after the visibility timeout and
    finishes it. The graph must equal what an uninterrupted write-back of the same run produces."""
    env = job_env(base_settings, KGP_GRAPH=settings.graph, KGP_WRITE_BATCH_SIZE=2, KGP_WRITE_PAUSE_S=0.4,
                  KGP_VISIBILITY_TIMEOUT_S=6)
    client = client_settings(env)
    store = loaded_store(settings, catalog_dir)
    asserted_before = asserted_count(store)
    first = Worker(env, tmp_path / "first.log").start()
    try:
        job_id = jobs.submit_pipeline(client, FAST)["job_id"]
        status, _ = wait_for(client, job_id, lambda s: ended(s) or (
            s["step"] == "writeback" and s["state"] == "PROGRESS" and 0 < s["progress"]["current"]
            < s["progress"]["total"] - 4))
        assert status["state"] == "PROGRESS", (status, first.tail())
        first.kill()
    finally:
        first.stop()
    partial = len(run_edges(store, job_id))
    total = len(predictions_file(settings, job_id))
    assert 0 < partial < total, (partial, total)  # it really died in the middle

    second = Worker(env, tmp_path / "second.log").start()
    try:
        status, _ = wait_for(client, job_id, ended, timeout=120)
        assert status["state"] == "SUCCESS", (status, second.tail())
        assert f"{job_id}.writeback] received" in (tmp_path / "second.log").read_text()  # redelivered
    finally:
        second.stop()
        flush_broker(env)
    crashed = sorted((e["h"], e["type"], e["t"]) for e in run_edges(store, job_id))

    # The reference: the same run's write-back, uninterrupted, into an identical graph.
    reference_settings = settings.model_copy(update={"graph": settings.graph + "_ref"})
    reference = loaded_store(reference_settings, catalog_dir)
    writeback_step(reference, settings, job_id, num_shards=2)
    expected = sorted((e["h"], e["type"], e["t"]) for e in run_edges(reference, job_id))

    print(f"\ncrash evidence: {total} edges to write; {partial} in the graph when the worker was killed; "
          f"{len(crashed)} after redelivery ({len(set(crashed))} distinct); uninterrupted reference {len(expected)}; "
          f"asserted {asserted_before} before, {asserted_count(store)} after")
    assert crashed == expected  # same edges: nothing missing, no duplicates (a list, not a set)
    assert len(set(crashed)) == len(crashed) == total
    assert asserted_count(store) == asserted_before
    assert show_run(store, job_id)["status"] == "completed"
    reference.delete_graph()
    store.delete_graph()


def test_a_dead_workers_task_is_reclaimed_in_seconds_not_at_the_visibility_timeout(settings, catalog_dir, tmp_path):
    """Visibility timeout at its default (hours): the killed worker's task comes back through its missing heartbeat,
    while a live task, however long it runs, is never handed out twice."""
    env = job_env(settings, KGP_TASK_HEARTBEAT_S=0.5, KGP_RECLAIM_GRACE_S=1)
    client = client_settings(env)
    assert client.visibility_timeout_s >= 3600
    loaded_store(settings, catalog_dir)
    # Training that runs its whole budget (no early stop), so that the worker dies in the middle of it.
    long_train = FAST.model_copy(update={"train": TrainConfig(time_budget_s=20, seed=1, dim=16, epochs=10**6,
                                                              patience=10**6)})
    first = Worker(env, tmp_path / "first.log").start()
    try:
        job_id = jobs.submit_pipeline(client, long_train)["job_id"]
        status, _ = wait_for(client, job_id, lambda s: ended(s) or (s["step"] == "train" and s["state"] == "PROGRESS"))
        assert status["state"] == "PROGRESS", (status, first.tail())
        time.sleep(1.5)  # older than the grace, and beating
        assert jobs.reclaim_orphans(client) == []  # alive: not reclaimed, not run twice
        first.kill()
    finally:
        first.stop()
    time.sleep(2)  # three missed heartbeats
    assert jobs.reclaim_orphans(client) == [f"{job_id}.train"]
    second = Worker(env, tmp_path / "second.log").start()
    try:
        status, _ = wait_for(client, job_id, ended, timeout=240)
        assert status["state"] == "SUCCESS", (status, second.tail())
        assert f"{job_id}.train] received" in (tmp_path / "second.log").read_text()
    finally:
        second.stop()
        flush_broker(env)


def test_a_forged_task_with_a_path_for_a_job_id_is_refused_before_any_work(base_settings, tmp_path):
    env = job_env(base_settings)
    client = client_settings(env)
    target = tmp_path / "victim"
    forged = {"job_id": f"../../{target.relative_to('/') if target.is_absolute() else target}", "graph": "kgp"}
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        result = jobs.celery_app(client).send_task("workers.tasks.featurize", kwargs=forged)
        with pytest.raises(Exception, match="refused task: invalid run id"):
            result.get(timeout=60)
        bad_graph = jobs.celery_app(client).send_task("workers.tasks.featurize",
                                                      kwargs={"job_id": "run-x", "graph": "g} RETURN 1 //"})
        with pytest.raises(Exception, match="refused task: invalid graph name"):
            bad_graph.get(timeout=60)
    finally:
        worker.stop()
        flush_broker(env)
    assert not target.exists() and not (client.runs_dir / forged["job_id"]).exists()
    with pytest.raises(JobError, match="invalid job id"):
        jobs.job_status(client, "../etc")


def test_transient_store_errors_are_retried_with_backoff_then_fail_clearly(base_settings, tmp_path):
    """A Neo4j that cannot be reached: the export task retries (state RETRY), then fails with the cause."""
    env = job_env(base_settings, KGP_STORE="neo4j", NEO4J_URI="bolt://127.0.0.1:9", KGP_TASK_MAX_RETRIES=2,
                  KGP_NEO4J_RETRY_S=0, KGP_RETRY_BACKOFF_MAX_S=1)
    client = client_settings(env)
    worker = Worker(env, tmp_path / "worker.log", celery_cli=True).start()  # `celery -A workers worker` works too
    try:
        job_id = jobs.submit_pipeline(client, FAST)["job_id"]
        status, seen = wait_for(client, job_id, ended, timeout=120)
    finally:
        worker.stop()
        flush_broker(env)
    # RETRY lasts at most the 1 s backoff, so a poller on a loaded machine may miss it: the worker's log is the
    # reliable witness of the retries (below); the poll only has to end in the export step's failure.
    assert seen[-1] == ("FAILURE", "export"), seen
    assert status["state"] == "FAILURE" and status["step"] == "export"
    assert "Neo4j unreachable" in status["error"]
    assert worker.log_text().count(f"{job_id}.export] retry: Retry in") == 2  # KGP_TASK_MAX_RETRIES
    assert jobs.lock_holder(client, client.graph_name) is None
