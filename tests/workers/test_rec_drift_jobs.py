"""Keeping the recommender fresh on a real worker and the real Redis broker: the beat entries exist only when
enabled; the drift task, run by the worker with the default thresholds, queues one retrain with the base run's
config, which then runs and quiets the guard; the periodic refresh steps aside while the graph is busy."""

from __future__ import annotations

from kgplatform.ingest.load import ingest_rec_layout
from kgplatform.ingest.load_behaviour import load_behaviour
from kgplatform.pipeline.recsteps import run_recommend_pipeline
from kgplatform.pipeline.rundir import RunDir
from kgplatform.recommend.config import RecRunConfig
from kgplatform.settings import Settings
from tests.pipeline.test_recdrift import QUICK
from tests.support.brokers import client_settings, ended, wait_for
from tests.support.recfolders import write_rec_folder
from tests.support.recsynth import new_buys, planted_folder_files
from workers import jobs, ticks
from workers.app import beat_schedule


def test_beat_has_the_refresh_and_drift_entries_only_when_enabled():
    off = beat_schedule(Settings(KGP_SCHEDULE_RECOMMEND_HOURS=0, KGP_REC_DRIFT_INTERVAL_S=0))
    assert "recommend-refresh" not in off and "recommend-drift" not in off
    assert "reconcile-jobs" in off
    on = beat_schedule(Settings(KGP_SCHEDULE_RECOMMEND_HOURS=6, KGP_REC_DRIFT_INTERVAL_S=900))
    assert on["recommend-refresh"] == {"task": "workers.tasks.scheduled_recommend", "schedule": 6 * 3600.0}
    assert on["recommend-drift"] == {"task": "workers.tasks.rec_drift", "schedule": 900.0}
    defaults = beat_schedule(Settings())
    assert "recommend-drift" in defaults and "recommend-refresh" not in defaults  # the guard is on by default


def on_worker(client: Settings, task: str, graph: str) -> dict:
    return jobs.celery_app(client).send_task(f"workers.tasks.{task}", kwargs={"graph": graph}).get(timeout=120)


def test_drift_on_a_worker_queues_one_retrain_that_then_quiets_the_guard(worker_env, settings, store, tmp_path):
    env, worker = worker_env
    client = client_settings({**env, "KGP_GRAPH": settings.graph})
    defaults = Settings()
    ingest_rec_layout(store, write_rec_folder(tmp_path / "planted", planted_folder_files()))
    cfg = RecRunConfig(train=QUICK, top_n=3, item_label=None)
    base = run_recommend_pipeline(store, settings, cfg)["run_id"]
    load_behaviour(store, new_buys(other_group=True, per_user=9))  # 60 people x 9 = 540, over the default 500

    got = on_worker(client, "rec_drift", settings.graph)
    assert got["base_run"] == base and got["count"] == 540 >= defaults.rec_drift_min_interactions
    assert got["verdict"] == "retrain", got
    assert got["recall"] < got["valid_recall"] - defaults.rec_drift_margin
    job_id = got["retraining"]["submitted"]
    assert job_id and jobs.client(client).get(f"kgp:retrain:{settings.graph}:{base}") == job_id
    twice = ticks.schedule_retraining(client, settings.graph, base, got["reasons"], kind="recommend")
    assert twice["submitted"] is None and twice["job_id"] == job_id  # one retrain per base run
    record = jobs.get_record(client, job_id)
    ran = cfg.model_copy(update={"encoder": settings.embed_model})  # the base run's config, its encoder resolved
    assert (record["kind"], record["graph"], record["config"]) == ("recommend", settings.graph, ran.model_dump())
    # The periodic refresh, queued behind the retrain's first step, finds the graph busy and steps aside.
    busy = on_worker(client, "scheduled_recommend", settings.graph)
    assert f"already has a recommend job running: {job_id}" in busy["skipped"]

    status, _ = wait_for(client, job_id, ended, timeout=180)
    assert status["state"] == "SUCCESS", (status, worker.tail())
    learnt = [len(RunDir.of(settings.runs_dir, run).load_recdata().interactions) for run in (base, job_id)]
    assert learnt[1] == learnt[0] + 540  # the retrain learnt from the new behaviour
    again = on_worker(client, "rec_drift", settings.graph)  # measured against the retrained run: nothing new since
    assert (again["base_run"], again["count"], again["verdict"], again["retrain"]) == (job_id, 0, "too-few", False)
