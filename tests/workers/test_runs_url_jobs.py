"""A pipeline job on a real worker whose KGP_HOME is not the submitting side's: the run reaches the submitter
through KGP_RUNS_URL on a real S3-API server (moto's, tests/support/objectstore.py), with a broker of its own.

The worker keeps the store's KGP_HOME because the embedded FalkorDB only serves the home it was started from;
what differs between the two sides here is where runs are read and written, which is what KGP_RUNS_URL shares."""

from __future__ import annotations

import pytest

from kgplatform.bench.worker_process import WorkerProcess
from kgplatform.demo.catalog import generate_catalog, write_dataset
from kgplatform.graph.store import embedded_broker
from kgplatform.ingest.load import ingest_path
from kgplatform.learn.config import TrainConfig
from kgplatform.pipeline.config import PipelineConfig
from kgplatform.pipeline.rundir import RunDir
from kgplatform.pipeline.runstore import open_run
from kgplatform.settings import Settings
from tests.support.brokers import client_settings, ended, wait_for
from tests.support.env import free_port
from tests.support.objectstore import DUMMY_CREDENTIALS, bucket_files, make_bucket, s3_server
from workers import jobs

FAST = PipelineConfig(train=TrainConfig(time_budget_s=10, seed=1, dim=64), target_precision=0.5, max_edges=400)


@pytest.fixture
def own_broker(tmp_path):
    """Broker and result backend URLs on a redis-server of this test's own (the shared one's databases are few)."""
    broker_host = Settings(KGP_HOME=tmp_path / "broker-host", KGP_BROKER_PORT=free_port())
    server = embedded_broker(broker_host)
    server.start()
    yield broker_host.embedded_broker_url(1), broker_host.embedded_broker_url(2)
    server.stop()


def test_a_worker_with_another_home_shares_the_run_through_s3(settings, store, tmp_path, own_broker, monkeypatch):
    for key, value in DUMMY_CREDENTIALS.items():  # the submitting side's own environment, as botocore reads it
        monkeypatch.setenv(key, value)
    folder = tmp_path / "catalog"
    write_dataset(generate_catalog(seed=3, n_products=120), folder)
    ingest_path(store, folder)
    with s3_server(tmp_path / "moto.log") as endpoint:
        make_bucket(endpoint, "kgp-runs")
        shared = {"KGP_STORE": "falkordb", "KGP_FALKORDB_PORT": str(settings.falkordb_port),
                  "KGP_FALKORDB_PASSWORD": settings.redis_password, "KGP_GRAPH": settings.graph,
                  "KGP_BROKER_URL": own_broker[0], "KGP_RESULT_BACKEND": own_broker[1], "KGP_SCORE_SHARDS": "2",
                  "KGP_RUNS_URL": "s3://kgp-runs/runs", "KGP_RUNS_S3_ENDPOINT_URL": endpoint, **DUMMY_CREDENTIALS}
        worker_env = {**shared, "KGP_HOME": str(settings.home)}
        client = client_settings({**shared, "KGP_HOME": str(tmp_path / "submitting-host")})
        with WorkerProcess(worker_env, tmp_path / "worker.log") as worker:
            job_id = jobs.submit_pipeline(client, FAST)["job_id"]
            status, _ = wait_for(client, job_id, ended)
            assert status["state"] == "SUCCESS", (status, worker.tail())
            log = worker.log_text()
        at_url = bucket_files(endpoint, f"kgp-runs/runs/{job_id}")
        assert not (client.runs_dir / job_id).exists()  # the submitting side holds nothing of the run yet
        on_client = open_run(client, job_id)  # what `kgp runs report`, serving and review do first
        predicted = {(p["head"], p["rel_type"], p["tail"]) for p in on_client.load_predictions()}
        metrics = on_client.read_json(RunDir.METRICS)

    assert {RunDir.MODEL, RunDir.PREDICTIONS, RunDir.METRICS, "scores/shard-001-of-002.jsonl"} <= at_url
    written = store.query("MATCH (h)-[r]->(t) WHERE r.run_id = $run RETURN h.id AS h, type(r) AS type, t.id AS t",
                          {"run": job_id})
    assert predicted and {(e["h"], e["type"], e["t"]) for e in written} == predicted
    assert metrics["score_shards"] == 2 and metrics["counts"]["predicted"] == len(predicted)
    assert DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"] not in log and "s3://kgp-runs/runs" in log
