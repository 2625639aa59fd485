"""The spine end to end on a real FalkorDB: catalog -> ingest -> train -> calibrate -> score -> write-back, and the
CLI shapes scripts rely on."""

from __future__ import annotations

import json

import pytest

from kgplatform.demo.catalog import generate_catalog, write_dataset
from kgplatform.devices import resolve_device
from kgplatform.graph.runs import show_run
from kgplatform.graph.store import open_store
from kgplatform.graph.writeback import write_predictions
from kgplatform.ingest.load import ingest_path
from kgplatform.learn.config import TrainConfig
from kgplatform.pipeline.config import PipelineConfig
from kgplatform.pipeline.steps import run_pipeline
from tests.support.env import run_kgp

PROVENANCE = {"predicted", "score", "probability", "status", "run_id", "model", "created_at", "method", "evidence"}


@pytest.fixture(scope="module")
def catalog():
    return generate_catalog(seed=3, n_products=160)


@pytest.fixture(scope="module")
def trained_graph(base_settings, catalog, tmp_path_factory):
    """One pipeline run shared by this module's tests (training is the slow part)."""
    settings = base_settings.model_copy(update={"graph": "t_pipeline"})
    store = open_store(settings)
    folder = tmp_path_factory.mktemp("catalog")
    write_dataset(catalog, folder)
    ingest_path(store, folder)
    cfg = PipelineConfig(train=TrainConfig(time_budget_s=20, seed=1), target_precision=0.6, max_edges=400)
    yield store, settings, run_pipeline(store, settings, cfg)
    store.delete_graph()
    store.close()


@pytest.fixture
def pipeline_run(trained_graph):
    return trained_graph[2]


@pytest.fixture
def store(trained_graph):
    return trained_graph[0]


@pytest.fixture
def settings(trained_graph):
    return trained_graph[1]


def edges_of(store, run_id):
    return store.query("MATCH (h)-[r]->(t) WHERE r.run_id = $run RETURN h.id AS h, type(r) AS type, t.id AS t, "
                       "properties(r) AS props ORDER BY h, type, t", {"run": run_id})


def test_pipeline_writes_calibrated_edges_with_provenance(store, settings, pipeline_run, catalog):
    result = pipeline_run
    asserted_before = {(h, r, t) for h, r, t in catalog.triples}
    edges = edges_of(store, result.run_id)
    assert len(edges) == result.counts["predicted"] == sum(result.counts["written_per_type"].values())
    assert edges, "a 0.6-precision target on this catalog must let some edges through"
    for e in edges:
        assert PROVENANCE <= set(e["props"]), e
        # a text-proposed edge (method 'text') has the text proposals' thresholds (text_links.py)
        calibration = result.metrics["text_links" if e["props"]["method"] == "text" else "calibration"]
        groups = calibration["per_group"]
        thresholds = [g["threshold"] for name, g in groups.items()
                      if name.startswith(e["type"] + "|") and g["threshold"] is not None]
        assert thresholds and e["props"]["probability"] >= min(thresholds) - 1e-9
        assert (e["h"], e["type"], e["t"]) not in asserted_before  # never re-proposes a known fact
    assert result.metrics["test"]["mrr"] > 0.05  # far above random ranking among hundreds of candidates
    assert result.metrics["device"] == str(resolve_device(settings.device))  # where it trained, for the record
    searched = result.metrics["candidate_search"]  # a small catalog: 'auto' scores every candidate exactly
    assert searched["setting"] == "auto" and searched["write"]
    assert set(searched["validation"].values()) == set(searched["write"].values()) == {"exact"}
    run = show_run(store, result.run_id)
    assert run["status"] == "completed" and run["metrics"]["test"]["mrr"] == result.metrics["test"]["mrr"]
    for name in ("config.json", "metrics.json", "model.pt", "calibration.json", "snapshot.pt", "predictions.jsonl"):
        assert (result.run_dir / name).is_file(), name


def test_rewriting_a_run_changes_nothing(store, pipeline_run):
    before = edges_of(store, pipeline_run.run_id)
    write_predictions(store, pipeline_run.predictions, run_id=pipeline_run.run_id, model=pipeline_run.model_name,
                      method="text+gnn")
    assert edges_of(store, pipeline_run.run_id) == before


def kgp(*args, env):
    return run_kgp(*args, env=env, timeout=300)


def test_cli_json_shapes_and_retract(store, pipeline_run, cli_env):
    runs = json.loads(kgp("runs", "list", "--json", env=cli_env).stdout)
    assert [r["run_id"] for r in runs] == [pipeline_run.run_id]
    shown = json.loads(kgp("runs", "show", pipeline_run.run_id, "--json", env=cli_env).stdout)
    assert set(shown["metrics"]["test"]) >= {"mrr", "hits@1", "hits@3", "hits@10", "per_relation"}
    rows = json.loads(kgp("cypher", "MATCH ()-[r]->() WHERE r.run_id = $run RETURN count(r) AS n",
                          "--param", f"run={pipeline_run.run_id}", "--json", env=cli_env).stdout)
    assert rows == [{"n": pipeline_run.counts["predicted"]}]
    asserted = store.query("MATCH ()-[r]->() WHERE r.predicted IS NULL RETURN count(r) AS n")
    done = kgp("runs", "retract", pipeline_run.run_id, "--json", env=cli_env)
    assert json.loads(done.stdout)["total_removed"] == pipeline_run.counts["predicted"]
    assert store.query("MATCH ()-[r]->() WHERE r.predicted IS NULL RETURN count(r) AS n") == asserted


def test_cli_cypher_is_read_only_and_errors_are_clear(store, cli_env):
    before = store.query("MATCH (n) RETURN count(n) AS n")
    done = kgp("cypher", "CREATE (:Entity {id: 'x'})", env=cli_env)
    assert done.returncode == 2 and "error:" in done.stderr
    assert store.query("MATCH (n) RETURN count(n) AS n") == before
    bad = kgp("runs", "show", "run-does-not-exist", env=cli_env)
    assert bad.returncode == 2 and "no run 'run-does-not-exist'" in bad.stderr
