"""Incremental scoring on a real FalkorDB: stamps, watermark, idempotent windows, a crash mid-write-back, `kgp watch`
and the beat job of a real Celery worker giving new products their links without retraining."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from kgplatform.bench.worker_process import WorkerProcess
from kgplatform.cli.incremental import describe
from kgplatform.demo.catalog import generate_catalog, write_dataset
from kgplatform.graph.store import open_store
from kgplatform.incremental import steps as incremental
from kgplatform.incremental.drift import drift_decision
from kgplatform.ingest.load import ingest_path, load_graph
from kgplatform.ingest.records import EntityRow, ParsedGraph, TripleRow
from kgplatform.learn.config import TrainConfig
from kgplatform.pipeline.config import PipelineConfig
from kgplatform.pipeline.steps import run_pipeline
from tests.support.brokers import flush_broker, job_env

NEW = 40  # products kept out of the base graph, inserted by the tests a few at a time


@pytest.fixture(scope="module")
def catalog():
    return generate_catalog(seed=3, n_products=200)


@pytest.fixture(scope="module")
def new_products(catalog):
    return sorted(e.id for e in catalog.entities if e.type == "Product")[-NEW:]


@pytest.fixture(scope="module")
def trained(base_settings, catalog, new_products, tmp_path_factory):
    """A graph without the NEW products, and one completed run on it (the base model)."""
    settings = base_settings.model_copy(update={"graph": "t_incremental"})
    store = open_store(settings)
    store.delete_graph()
    held = set(new_products)
    base = generate_catalog(seed=3, n_products=200)
    base.entities = [e for e in base.entities if e.id not in held]
    base.triples = [t for t in base.triples if t[0] not in held and t[2] not in held]
    folder = tmp_path_factory.mktemp("incremental-catalog")
    write_dataset(base, folder)
    ingest_path(store, folder)
    # a quarter of the products held out to calibrate new ones on: a 200-product catalogue has few to spare
    cfg = PipelineConfig(train=TrainConfig(time_budget_s=20, seed=1), target_precision=0.6, max_edges=400,
                         arrival_holdout_share=0.25, arrival_min_heads=20)
    result = run_pipeline(store, settings, cfg)
    yield store, settings, result
    store.delete_graph()
    store.close()


def insert_products(store, catalog, ids: list[str]) -> None:
    """New products as a catalog feed brings them: their text and one known edge each (their category)."""
    entities = [EntityRow(e.id, "Product", "Product", e.name, e.description) for e in catalog.entities
                if e.id in ids]
    links = [next(t for t in catalog.triples + catalog.held_back if t[0] == pid and t[1] == "IN_CATEGORY")
             for pid in ids]
    load_graph(store, ParsedGraph(entities, [TripleRow(*t, None) for t in links]))


def incremental_edges(store, heads: list[str] | None = None) -> list[dict]:
    rows = store.query("MATCH (h:Entity)-[r]->(t:Entity) WHERE r.method = 'incremental' "
                       "RETURN h.id AS h, type(r) AS type, t.id AS t, r.run_id AS run_id, r.model AS model, "
                       "r.base_run AS base_run, r.status AS status, r.evidence AS evidence ORDER BY h, type, t")
    return [r for r in rows if heads is None or r["h"] in heads]


def asserted(store) -> list[tuple]:
    return sorted((r["h"], r["type"], r["t"], r["split"]) for r in store.query(
        "MATCH (h)-[r]->(t) WHERE r.predicted IS NULL RETURN h.id AS h, type(r) AS type, t.id AS t, r.split AS split"))


def test_ingest_stamps_nodes_and_links_and_an_unchanged_reingest_keeps_them(store, tmp_path):
    catalog = generate_catalog(seed=5, n_products=20)
    write_dataset(catalog, tmp_path)
    ingest_path(store, tmp_path)
    before = {r["id"]: r for r in store.query(
        "MATCH (n:Entity) RETURN n.id AS id, n.created_at AS c, n.updated_at AS u")}
    assert all(isinstance(r["c"], int) and r["u"] >= r["c"] for r in before.values())
    links = store.query("MATCH ()-[r]->() RETURN r.created_at AS c")
    assert links and all(isinstance(r["c"], int) for r in links)
    indexes = {(i["label"], p) for i in store.query("CALL db.indexes()") for p in i["properties"]}
    assert {("Entity", "created_at"), ("Entity", "updated_at"), ("HAS_BRAND", "created_at"),
            ("IN_CATEGORY", "updated_at")} <= indexes

    time.sleep(0.01)
    ingest_path(store, tmp_path)  # the same data again: nothing changed, nothing re-stamped
    again = {r["id"]: r
             for r in store.query("MATCH (n:Entity) RETURN n.id AS id, n.created_at AS c, n.updated_at AS u")}
    assert again == before

    product = next(e for e in catalog.entities if e.type == "Product")
    load_graph(store, ParsedGraph([EntityRow(product.id, "Product", "Product", product.name, "now in blue")]))
    changed = store.query("MATCH (n:Entity {id: $id}) RETURN n.created_at AS c, n.updated_at AS u",
                          {"id": product.id})[0]
    assert changed["c"] == before[product.id]["c"] and changed["u"] > before[product.id]["u"]


def test_new_products_get_links_from_the_base_model_and_the_watermark_moves_after(trained, catalog, new_products):
    store, settings, base_run = trained
    cache = incremental.BaseCache()
    first = incremental.score_new(store, settings, cache)
    assert first["status"] == "idle" and first["base_run"] == base_run.run_id
    facts_before = asserted(store)

    ids = new_products[:6]
    insert_products(store, catalog, ids)
    result = incremental.score_new(store, settings, cache)
    assert result["status"] == "scored" and result["new_nodes"] == 6 and result["changed"] >= 6
    edges = incremental_edges(store, ids)
    assert edges, f"the base model wrote nothing for six new products: {result}"
    assert {(e["run_id"], e["model"], e["base_run"], e["status"]) for e in edges} == \
        {(result["run_id"], base_run.model_name, base_run.run_id, "proposed")}
    assert all("known edge" in e["evidence"] for e in edges)
    assert len(edges) == sum(result["written_per_type"].values())
    assert incremental.read_watermark(store)["at"] == result["window"]["until"]
    # the product's own category edge is never proposed again; asserted facts only gained the inserted ones
    inserted = {(pid, "IN_CATEGORY") for pid in ids}
    assert not [e for e in edges if (e["h"], e["type"]) in inserted and e["type"] == "IN_CATEGORY"
                and (e["h"], e["type"], e["t"]) in {(f[0], f[1], f[2]) for f in asserted(store)}]
    assert set(facts_before) < set(asserted(store)) and len(asserted(store)) == len(facts_before) + 6

    again = incremental.score_new(store, settings, cache)
    assert again["status"] == "idle"
    assert incremental_edges(store, ids) == edges


def test_a_redone_window_writes_the_same_edges_under_the_same_run(trained, catalog, new_products):
    store, settings, _ = trained
    cache = incremental.BaseCache()
    incremental.score_new(store, settings, cache)  # start from a clean watermark
    mark = incremental.read_watermark(store)
    ids = new_products[6:10]
    insert_products(store, catalog, ids)
    base = cache.get(settings, incremental.latest_base_row(store, settings))
    until = incremental.read_watermark(store)["now"]
    first = incremental.score_window(store, settings, base, mark["at"], until)
    edges = incremental_edges(store, ids)
    second = incremental.score_window(store, settings, base, mark["at"], until)
    assert first["run_id"] == second["run_id"] and first["written_per_type"] == second["written_per_type"]
    assert incremental_edges(store, ids) == edges
    counts = Counter((e["h"], e["type"], e["t"]) for e in incremental_edges(store))
    assert counts and max(counts.values()) == 1


def test_a_crash_during_write_back_loses_nothing_and_the_next_tick_completes_it(trained, catalog, new_products,
                                                                               tmp_path):
    store, settings, _ = trained
    incremental.score_new(store, settings)
    mark = incremental.read_watermark(store)
    ids = new_products[10:30]
    insert_products(store, catalog, ids)
    env = {**os.environ, "KGP_STORE": "falkordb", "KGP_HOME": str(settings.home),
           "KGP_FALKORDB_PORT": str(settings.falkordb_port), "KGP_GRAPH": settings.graph,
           "KGP_WRITE_BATCH_SIZE": "1", "KGP_WRITE_PAUSE_S": "5"}
    proc = subprocess.Popen([sys.executable, "-m", "kgplatform.cli", "score-new", "--json"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    while not incremental_edges(store, ids):
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "the tick wrote nothing within 120 s"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # mid write-back: one batch of one edge is in, the rest is not
    proc.wait(timeout=30)
    partial = incremental_edges(store, ids)
    run_id = partial[0]["run_id"]
    planned = [json.loads(line) for line in (settings.runs_dir / run_id / "predictions.jsonl").read_text().splitlines()]
    assert len(partial) == 1 < len(planned), "the crash must leave the write-back incomplete"
    assert incremental.read_watermark(store)["at"] == mark["at"], "the watermark moved before the edges were in"
    assert store.query("MATCH (r:KgpRun {run_id: $id}) RETURN r.status AS s", {"id": run_id})[0]["s"] == "running"

    redo = incremental.score_new(store, settings)
    assert redo["status"] == "scored" and redo["run_id"] == run_id
    edges = incremental_edges(store, ids)
    assert sorted((e["h"], e["type"], e["t"]) for e in edges) == \
        sorted((p["head"], p["rel_type"], p["tail"]) for p in planned)
    assert store.query("MATCH (r:KgpRun {run_id: $id}) RETURN r.status AS s", {"id": run_id})[0]["s"] == "completed"
    assert incremental.read_watermark(store)["at"] == redo["window"]["until"]


def test_kgp_watch_gives_new_products_their_links(trained, catalog, new_products, tmp_path):
    store, settings, _ = trained
    incremental.score_new(store, settings)
    env = {**os.environ, "KGP_STORE": "falkordb", "KGP_HOME": str(settings.home),
           "KGP_FALKORDB_PORT": str(settings.falkordb_port), "KGP_GRAPH": settings.graph}
    log = open(tmp_path / "watch.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "kgplatform.cli", "watch", "--interval", "0.5", "--json",
                             "--no-retrain"], env=env, stdout=subprocess.PIPE, stderr=log)
    try:
        ids = new_products[30:34]
        insert_products(store, catalog, ids)
        line = proc.stdout.readline()  # blocks until a tick scored something (or watch died: b"")
        assert line, (tmp_path / "watch.log").read_text()
        result = json.loads(line)
        assert result["status"] == "scored" and result["new_nodes"] >= 4  # the ball holds earlier arrivals too
        assert incremental_edges(store, ids)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()
    assert proc.returncode == 0


def test_the_beat_job_of_a_real_worker_gives_new_products_their_links(trained, catalog, new_products, tmp_path):
    store, settings, _ = trained
    incremental.score_new(store, settings)
    env = job_env(settings, KGP_INCREMENTAL_INTERVAL_S="1")
    worker = WorkerProcess(env, tmp_path / "worker.log", queues="cpu", beat=True).start()
    try:
        ids = new_products[34:38]
        insert_products(store, catalog, ids)
        deadline = time.monotonic() + 120
        while not incremental_edges(store, ids):
            assert time.monotonic() < deadline, f"no edges after 120 s:\n{worker.tail()}"
            time.sleep(0.2)
        assert "workers.tasks.score_new" in worker.log_text()
    finally:
        worker.stop()
        flush_broker(env)


def test_an_unfinished_ingest_holds_back_what_was_stamped_after_it_began(trained, catalog, new_products):
    store, settings, _ = trained
    cache = incremental.BaseCache()
    incremental.score_new(store, settings, cache)  # start from a clean watermark
    store.query("CREATE (:KgpIngest {id: 'ingest-test', source: 'half.csv', status: 'running', "
                "started_at: timestamp()})")
    ids = new_products[38:40]
    try:
        time.sleep(0.01)
        insert_products(store, catalog, ids)  # stamped after the unfinished ingest began: maybe half of a graph
        held = incremental.score_new(store, settings, cache)
        assert held["status"] == "idle" and [i["id"] for i in held["waiting_for_ingests"]] == ["ingest-test"]
        assert not incremental_edges(store, ids)
        assert "waiting for ingest ingest-test" in describe(held)
    finally:
        store.query("MATCH (i:KgpIngest {id: 'ingest-test'}) SET i.status = 'completed'")
    scored = incremental.score_new(store, settings, cache)  # the ingest completed: its data is scored now
    assert scored["status"] == "scored" and scored["new_nodes"] >= 2 and "waiting_for_ingests" not in scored


def test_unknown_labels_are_skipped_and_drift_says_why(trained, new_products):
    store, settings, _ = trained
    incremental.score_new(store, settings)
    load_graph(store, ParsedGraph([EntityRow("gadget:1", "Gadget", "Gadget", "A label the model never saw", "")]))
    drifting = settings.model_copy(update={"drift_max_added_share": 0.001})
    result = incremental.score_new(store, drifting)
    assert result["status"] == "scored" and result["skipped"]["unknown_label"] == 1
    assert result["drift"]["retrain"] and "entities added since the base run" in result["drift"]["reasons"][0]


def test_drift_decision():
    calm = drift_decision(base_nodes=1000, base_edges=5000, added_nodes=50, added_edges=100, accepted=9, rejected=1,
                          max_added_share=0.2, min_reviewed=20, min_precision=0.8)
    assert not calm.retrain and calm.figures["node_share"] == 0.05
    grown = drift_decision(base_nodes=1000, base_edges=5000, added_nodes=50, added_edges=1200, accepted=0,
                           rejected=0, max_added_share=0.2, min_reviewed=20, min_precision=0.8)
    assert grown.retrain and grown.reasons == ["1200 relationships added since the base run = 24.0% of its 5000 "
                                               "(limit 20%)"]
    worse = drift_decision(base_nodes=1000, base_edges=5000, added_nodes=0, added_edges=0, accepted=14, rejected=11,
                           max_added_share=0.2, min_reviewed=20, min_precision=0.8)
    assert worse.retrain and "0.56 (14 accepted of 25)" in worse.reasons[0]
    too_few = drift_decision(base_nodes=1000, base_edges=5000, added_nodes=0, added_edges=0, accepted=1, rejected=9,
                             max_added_share=0.2, min_reviewed=20, min_precision=0.8)
    assert not too_few.retrain
