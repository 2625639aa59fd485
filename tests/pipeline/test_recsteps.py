"""A recommendation run end to end on a real FalkorDB: layout folder -> ingest -> export -> train -> score shards ->
write-back, rerun safety, retraction, and the CLI."""

from __future__ import annotations

import json

import pytest

from kgplatform.devices import resolve_device
from kgplatform.graph.recommendations import read_recommendations
from kgplatform.graph.runs import retract_run, show_run
from kgplatform.graph.store import open_store
from kgplatform.ingest.load import ingest_rec_layout
from kgplatform.pipeline.recsteps import rec_writeback_step, run_recommend_pipeline
from kgplatform.pipeline.rundir import RunDir
from kgplatform.recommend.config import RecConfig, RecRunConfig
from tests.support.env import run_kgp
from tests.support.recfolders import write_rec_folder
from tests.support.recsynth import planted_folder_files, planted_world

FAST = RecConfig(dim=16, time_budget_s=40, max_epochs=120, patience=15, lr=0.02, batch_size=512, use_text=False)

BEHAVIOUR = ("MATCH (u:User)-[r]->(p) WHERE type(r) <> 'RECOMMENDED' "
             "RETURN u.id AS u, type(r) AS t, p.id AS p, properties(r) AS props ORDER BY u, t, p, props.split")
RECOMMENDED = ("MATCH (u:User)-[r:RECOMMENDED]->(p) "
               "RETURN u.id AS u, p.id AS p, r.rank AS rank, r.run_id AS run ORDER BY u, rank")


@pytest.fixture(scope="module")
def world_graph(base_settings, tmp_path_factory):
    settings = base_settings.model_copy(update={"graph": "t_recsteps"})
    store = open_store(settings)
    folder = write_rec_folder(tmp_path_factory.mktemp("planted"), planted_folder_files())
    ingest_rec_layout(store, folder)
    cfg = RecRunConfig(train=FAST, top_n=5, item_label=None)
    summary = run_recommend_pipeline(store, settings, cfg, num_shards=2)
    yield store, settings, cfg, summary
    store.delete_graph()
    store.close()


def test_every_user_gets_ranked_unseen_items_and_the_run_is_recorded(world_graph):
    store, settings, _, summary = world_graph
    world = planted_world()
    rows = store.query(RECOMMENDED)
    assert {r["u"] for r in rows} == set(world["users"])
    by_user: dict[str, list] = {}
    for r in rows:
        by_user.setdefault(r["u"], []).append(r)
    seen = {(u, i) for split in world["interactions"].values() for u, i in split}
    for user, recs in by_user.items():
        assert [r["rank"] for r in recs] == [1, 2, 3, 4, 5]
        assert not [r for r in recs if (user, r["p"]) in seen]
        assert {r["run"] for r in recs} == {summary["run_id"]}
    run = show_run(store, summary["run_id"])
    assert run["status"] == "completed" and run["method"] == "kg-recommender"
    assert summary["test"]["recall@20"] > 0.3  # the planted tastes were learnt (random: about 0.4 * 20/48)
    assert summary["counts"]["recommendations"] == 5 * len(world["users"])
    assert summary["device"] == str(resolve_device(settings.device))


def test_read_back_carries_evidence_through_the_graph(world_graph):
    store, *_ = world_graph
    recs = read_recommendations(store, "user:0:1", 5)
    assert len(recs) == 5
    assert all(r["evidence"] for r in recs)
    assert any("HAS_BRAND" in r["evidence"] for r in recs)


def test_writeback_rerun_changes_nothing(world_graph):
    store, settings, _, summary = world_graph
    before = store.query(RECOMMENDED)
    rec_writeback_step(store, settings, summary["run_id"], num_shards=2)
    assert store.query(RECOMMENDED) == before


def test_cli_recommend_prints_what_was_written(world_graph, cli_env):
    store, settings, _, summary = world_graph
    env = {**cli_env, "KGP_GRAPH": settings.graph}
    done = run_kgp("recommend", "user:1:2", "--k", "3", "--json", env=env)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert [r["rank"] for r in printed] == [1, 2, 3]
    assert set(printed[0]) == {"item", "name", "score", "rank", "evidence"}
    missing = run_kgp("recommend", "nobody", "--json", env=env)
    assert missing.returncode == 2 and "nobody" in missing.stderr


def test_a_newer_run_replaces_and_retracting_it_leaves_behaviour_alone(world_graph):
    store, settings, cfg, first = world_graph
    behaviour = store.query(BEHAVIOUR)
    second = run_recommend_pipeline(store, settings, cfg.model_copy(update={"top_n": 3}))
    runs = {r["run"] for r in store.query(RECOMMENDED)}
    assert runs == {second["run_id"]}
    assert RunDir.of(settings.runs_dir, second["run_id"]).has(RunDir.RECOMMENDATIONS, RunDir.REC_VECTORS)
    embedded = "MATCH (n:Entity) WHERE n.embedding_run = $run RETURN count(n) AS n"
    assert store.query(embedded, {"run": second["run_id"]})[0]["n"] > 0
    assert retract_run(store, second["run_id"])["embeddings_removed"] > 0
    assert store.query(embedded, {"run": second["run_id"]})[0]["n"] == 0
    assert store.query(RECOMMENDED) == []
    assert store.query(BEHAVIOUR) == behaviour
