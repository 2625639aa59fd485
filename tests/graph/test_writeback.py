"""Export, write-back, idempotency, asserted facts untouched, retract: against a real FalkorDB."""

from __future__ import annotations

import json

import pytest

from kgplatform.errors import SchemaError
from kgplatform.graph.export import export_snapshot
from kgplatform.graph.runs import record_run, retract_run, show_run
from kgplatform.graph.writeback import write_predictions
from kgplatform.ingest.load import ingest_path
from kgplatform.snapshot import SPLIT_NONE
from tests.support.graphs import CATALOG, PREDICTIONS, asserted, graph_state


@pytest.fixture
def loaded(store, tmp_path):
    path = tmp_path / "catalog.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in CATALOG))
    ingest_path(store, path)
    return store


def write(store, run_id="run-a", predictions=PREDICTIONS):
    record_run(store, run_id=run_id, model="m@1", config={}, metrics={"x": 1}, counts={}, status="completed",
               snapshot_hash="h", method="text+gnn")
    return write_predictions(store, predictions, run_id=run_id, model="m@1", method="text+gnn")


def test_export_reads_typed_edges_and_text(loaded):
    snap = export_snapshot(loaded)
    assert snap.node_ids == ["b:1", "b:2", "c:1", "p:1", "p:2", "p:3"]
    assert snap.rel_names == ["BOUGHT_TOGETHER", "HAS_BRAND", "IN_CATEGORY"]
    assert snap.type_names == ["Brand", "Category", "Product"]
    assert snap.edge_index.shape == (2, 5)
    assert bool((snap.edge_split == SPLIT_NONE).all())
    assert snap.node_text[3] == "Sonique Buds"
    assert snap.content_hash() == export_snapshot(loaded, page_size=2).content_hash()  # paging changes nothing


def test_export_filters_and_validates_names(loaded):
    snap = export_snapshot(loaded, labels=["Product", "Brand"], rel_types=["HAS_BRAND"])
    assert snap.num_nodes == 5 and snap.rel_names == ["HAS_BRAND"] and snap.edge_index.shape == (2, 2)
    with pytest.raises(SchemaError, match="unknown label 'Shop'"):
        export_snapshot(loaded, labels=["Shop"])
    with pytest.raises(SchemaError, match="invalid relationship type"):
        export_snapshot(loaded, rel_types=["HAS_BRAND]->() DELETE n //"])


def test_writeback_carries_provenance_and_is_idempotent(loaded):
    before = asserted(loaded)
    write(loaded)
    first = graph_state(loaded)
    write(loaded)
    assert graph_state(loaded) == first
    rows = loaded.query("MATCH (:Product {id: 'p:2'})-[r:HAS_BRAND]->(:Brand {id: 'b:1'}) RETURN properties(r) AS p")
    props = rows[0]["p"]
    assert props["predicted"] is True and props["status"] == "proposed" and props["run_id"] == "run-a"
    assert props["probability"] == pytest.approx(0.94) and props["score"] == pytest.approx(3.2)
    assert props["model"] == "m@1" and props["method"] == "text+gnn" and props["created_at"] > 1.6e12
    assert props["evidence"] == "x"
    assert asserted(loaded) == before  # the asserted p:1 HAS_BRAND b:1 kept exactly as it was


def test_predicted_edges_are_excluded_from_export_facts(loaded):
    write(loaded)
    snap = export_snapshot(loaded)
    assert snap.edge_index.shape == (2, 5)
    assert snap.excluded.shape == (3, 3)


def test_retract_removes_exactly_that_run(loaded):
    before = asserted(loaded)
    write(loaded, "run-a")
    write(loaded, "run-b", PREDICTIONS[:1])
    report = retract_run(loaded, "run-a")
    assert report["total_removed"] == 3
    assert asserted(loaded) == before
    left = loaded.query("MATCH ()-[r]->() WHERE r.predicted = true RETURN r.run_id AS run")
    assert left == [{"run": "run-b"}]
    assert show_run(loaded, "run-a")["status"] == "retracted"
    assert retract_run(loaded, "run-a")["total_removed"] == 0  # retracting twice is harmless


def test_retract_keeps_accepted_unless_asked(loaded):
    write(loaded)
    loaded.query("MATCH ()-[r:HAS_BRAND]->() WHERE r.run_id = 'run-a' SET r.status = 'accepted'")
    assert retract_run(loaded, "run-a")["total_removed"] == 1
    assert retract_run(loaded, "run-a", include_accepted=True)["total_removed"] == 2


def test_writeback_refuses_undeclared_and_hostile_types(loaded):
    bad = [{**PREDICTIONS[0], "rel_type": "OWNS"}]
    with pytest.raises(SchemaError, match="unknown relationship type 'OWNS'"):
        write(loaded, predictions=bad)
    hostile = [{**PREDICTIONS[0], "rel_type": "HAS_BRAND`]->(x) DETACH DELETE x //"}]
    with pytest.raises(SchemaError, match="invalid relationship type"):
        write(loaded, predictions=hostile)
    assert loaded.query("MATCH ()-[r]->() WHERE r.predicted = true RETURN count(r) AS n") == [{"n": 0}]


def test_pipeline_on_an_empty_graph_says_what_to_do(store, settings):
    from kgplatform.errors import KgpError
    from kgplatform.pipeline.config import PipelineConfig
    from kgplatform.pipeline.steps import run_pipeline

    with pytest.raises(KgpError, match="no asserted relationships to learn from; load data with `kgp ingest"):
        run_pipeline(store, settings, PipelineConfig())
    assert store.query("MATCH (r:KgpRun) RETURN count(r) AS n") == [{"n": 0}]
