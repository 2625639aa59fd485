"""Real pipeline steps on two hosts (two KGP_HOME folders) sharing the run through KGP_RUNS_URL: a file:// folder
and a real S3-API server (moto's, tests/support/objectstore.py). Host A exports, featurizes and trains; host B,
which has never seen the run, scores and writes back; a third host finds it as the incremental base run."""

from __future__ import annotations

import pytest

from kgplatform.demo.catalog import generate_catalog, write_dataset
from kgplatform.graph.runs import new_run_id, show_run
from kgplatform.incremental.steps import latest_base_row
from kgplatform.ingest.load import ingest_path
from kgplatform.learn.config import TrainConfig
from kgplatform.pipeline.config import PipelineConfig
from kgplatform.pipeline.rundir import RunDir
from kgplatform.pipeline.runstore import open_run, run_store, synced_run
from kgplatform.pipeline.steps import export_step, featurize_step, score_step, train_step, writeback_step
from kgplatform.settings import Settings
from tests.support.objectstore import DUMMY_CREDENTIALS, bucket_files, make_bucket, s3_server

FAST = PipelineConfig(train=TrainConfig(time_budget_s=10, seed=1, dim=64), target_precision=0.5, max_edges=400)
SHARDS = 2
# What a later step or another host needs: each must be at the URL once the run is complete.
SHARED = {RunDir.CONFIG, RunDir.SNAPSHOT, RunDir.FEATURES, RunDir.MODEL, RunDir.NODE_STATES, RunDir.CALIBRATORS,
          RunDir.PREDICTIONS, RunDir.METRICS, "scores/shard-000-of-002.jsonl", "scores/shard-001-of-002.jsonl",
          "step-export.json", "step-train.json", "step-writeback.json"}


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory):
    with s3_server(tmp_path_factory.mktemp("moto") / "moto.log") as endpoint:
        make_bucket(endpoint, "kgp-test")
        yield endpoint


@pytest.fixture(params=["file", "s3"])
def runs_url(request, tmp_path, monkeypatch):
    """(KGP_RUNS_URL, its S3 endpoint or None, a function listing the files under the URL)."""
    if request.param == "file":
        shared = tmp_path / "shared-runs"
        return shared.as_uri(), None, lambda: {p.relative_to(shared).as_posix() for p in shared.rglob("*")
                                              if p.is_file()}
    endpoint = request.getfixturevalue("s3_endpoint")
    for key, value in DUMMY_CREDENTIALS.items():  # botocore's own environment: kgplatform never reads them
        monkeypatch.setenv(key, value)
    prefix = f"kgp-test/{tmp_path.name}"
    return f"s3://{prefix}", endpoint, lambda: bucket_files(endpoint, prefix)


def on_host(settings, tmp_path, name: str, runs_url):
    url, endpoint, _ = runs_url
    return settings.model_copy(update={"home": tmp_path / name, "runs_url": url, "runs_s3_endpoint_url": endpoint,
                                       "falkordb_password": settings.redis_password})  # the store's, not the home's


def test_steps_on_two_hosts_share_the_run_through_the_url(settings, store, tmp_path, runs_url):
    folder = tmp_path / "catalog"
    write_dataset(generate_catalog(seed=3, n_products=120), folder)
    ingest_path(store, folder)
    host_a, host_b = on_host(settings, tmp_path, "host-a", runs_url), on_host(settings, tmp_path, "host-b", runs_url)
    run_id = new_run_id()

    with synced_run(host_a, run_id):
        export_step(store, host_a, run_id, FAST)
    with synced_run(host_a, run_id):
        featurize_step(host_a, run_id)
    with synced_run(host_a, run_id):
        train_step(host_a, run_id)
    assert not (host_b.runs_dir / run_id).exists()
    for shard in range(SHARDS):
        with synced_run(host_b, run_id):
            score_step(host_b, run_id, shard, SHARDS)
    with synced_run(host_b, run_id):
        summary = writeback_step(store, host_b, run_id, SHARDS)

    # Host B's outputs: the edges in the graph are the predictions it selected from the model host A trained.
    on_b = RunDir.of(host_b.runs_dir, run_id)
    predicted = {(p["head"], p["rel_type"], p["tail"]) for p in on_b.load_predictions()}
    written = store.query("MATCH (h)-[r]->(t) WHERE r.run_id = $run RETURN h.id AS h, type(r) AS type, t.id AS t",
                          {"run": run_id})
    assert predicted and {(e["h"], e["type"], e["t"]) for e in written} == predicted
    assert summary["predicted"] == len(predicted)
    run = show_run(store, run_id)
    assert run["status"] == "completed" and run["metrics"]["snapshot_hash"] == \
        RunDir.of(host_a.runs_dir, run_id).read_step("export")["snapshot_hash"]

    # The artefacts are at the URL, whole: no temporaries and none of a host's own state.
    at_url = {name[len(run_id) + 1:] for name in runs_url[2]() if name.startswith(run_id + "/")}
    assert SHARED <= at_url, SHARED - at_url
    assert not [n for n in at_url if n.endswith(".tmp") or n.split("/")[-1].startswith(".")], at_url

    # Host A reads what host B wrote; a third host finds the run as the incremental base and loads it.
    assert open_run(host_a, run_id).read_json(RunDir.METRICS)["counts"]["predicted"] == len(predicted)
    host_c = on_host(settings, tmp_path, "host-c", runs_url)
    assert latest_base_row(store, host_c)["run_id"] == run_id
    assert run_store(host_c).has(run_id, *RunDir.BASE_ARTEFACTS) and not (host_c.runs_dir / run_id).exists()


def test_a_key_that_climbs_out_of_the_run_is_never_pulled(tmp_path, monkeypatch, s3_endpoint):
    """An object named run-x/../../escape (S3 keys may hold '..') is ignored, not written outside the run."""
    import s3fs

    for key, value in DUMMY_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    prefix = f"kgp-test/{tmp_path.name}"
    fs = s3fs.S3FileSystem(endpoint_url=s3_endpoint, skip_instance_cache=True)
    for key in ("run-x/config.json", "run-x/../../escape.json", "run-x/scores/../../../up.json"):
        fs.pipe(f"{prefix}/{key}", b"{}")
    assert len(fs.find(prefix)) == 3  # stored as written: the climbing names are really there

    host = Settings(KGP_HOME=tmp_path / "home", KGP_RUNS_URL=f"s3://{prefix}", KGP_RUNS_S3_ENDPOINT_URL=s3_endpoint)
    out = open_run(host, "run-x")
    assert [p.name for p in tmp_path.rglob("*.json") if p.name != RunDir.SYNC_STATE] == ["config.json"]
    assert out.read_json(RunDir.CONFIG) == {}
