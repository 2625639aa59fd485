"""The recommender's drift check on a real FalkorDB: a run on the planted taste groups, then new behaviour written
after it. Buys of the user's own taste group rank well (no retrain); buys of a group they never touched rank badly
(retrain); too few new buys give no verdict; people and items the run does not know are skipped as cold start."""

from __future__ import annotations

import pytest

from kgplatform.graph.store import open_store
from kgplatform.ingest.behaviour import BehaviourRow
from kgplatform.ingest.load import ingest_rec_layout
from kgplatform.ingest.load_behaviour import load_behaviour
from kgplatform.pipeline.recdrift import check_recommendation_drift, latest_rec_run, refresh_config
from kgplatform.pipeline.recsteps import run_recommend_pipeline
from kgplatform.recommend.config import RecConfig, RecRunConfig
from tests.support.recfolders import write_rec_folder
from tests.support.recsynth import new_buys, planted_folder_files

# Enough to learn the planted tastes (validation Recall@20 1.0 here) in a few seconds.
QUICK = RecConfig(dim=16, time_budget_s=20, max_epochs=40, patience=5, lr=0.02, batch_size=512, use_text=False)


@pytest.fixture(scope="module")
def planted_run(base_settings, tmp_path_factory):
    settings = base_settings.model_copy(update={"graph": "t_recdrift"})
    store = open_store(settings)
    ingest_rec_layout(store, write_rec_folder(tmp_path_factory.mktemp("planted"), planted_folder_files()))
    cfg = RecRunConfig(train=QUICK, top_n=5, item_label=None)
    summary = run_recommend_pipeline(store, settings, cfg)
    yield store, settings, cfg, summary
    store.delete_graph()
    store.close()


@pytest.fixture
def fresh(planted_run):
    """The run, with the behaviour a test writes after it removed again afterwards."""
    store, *_ = planted_run
    since = int(latest_rec_run(store, planted_run[1])["created_at"])
    yield planted_run
    store.query("MATCH (:User)-[r]->() WHERE r.created_at > $since DELETE r", {"since": since})
    store.query("MATCH (u:User {id: 'user:new'}) DELETE u")


def drift(store, settings, **thresholds):
    return check_recommendation_drift(store, settings.model_copy(update=thresholds))


def test_buys_of_a_taste_nobody_had_trigger_a_retrain(fresh):
    store, settings, _, summary = fresh
    load_behaviour(store, new_buys(other_group=True, per_user=2))
    got = drift(store, settings, rec_drift_margin=0.05, rec_drift_min_interactions=100)
    print("bad:", got)
    valid = summary["best_valid"]["recall@20"]
    assert got["status"] == "checked" and got["base_run"] == summary["run_id"]
    assert got["count"] == got["new_interactions"] == 120 and got["users"] == 60
    assert got["valid_recall"] == pytest.approx(valid) and got["recall"] < valid - 0.05
    assert got["retrain"] and got["verdict"] == "retrain"


def test_buys_the_model_expects_keep_it(fresh):
    store, settings, _, summary = fresh
    load_behaviour(store, new_buys(other_group=False, per_user=2))
    got = drift(store, settings, rec_drift_margin=0.05, rec_drift_min_interactions=100)
    print("good:", got)
    assert got["count"] == 120 and got["recall"] >= summary["best_valid"]["recall@20"] - 0.05
    assert not got["retrain"] and got["verdict"] == "ok"


def test_too_few_new_buys_give_no_verdict_and_cold_start_is_not_drift(fresh):
    store, settings, *_ = fresh
    assert drift(store, settings)["verdict"] == "too-few"  # nothing new yet
    bad = new_buys(other_group=True, per_user=1)
    cold = [BehaviourRow(user="user:new", item="item:0:0"), BehaviourRow(user="user:0:0", item="brand:1")]
    load_behaviour(store, bad + cold)
    got = drift(store, settings, rec_drift_min_interactions=61)
    assert (got["count"], got["unknown_user_interactions"], got["unknown_item_interactions"]) == (60, 1, 1)
    assert got["new_interactions"] == 62
    assert not got["retrain"] and got["verdict"] == "too-few" and "needs 61" in got["reasons"][0]


def test_a_refresh_reuses_the_newest_runs_config(planted_run, settings, store):
    graph_store, base_settings, cfg, summary = planted_run
    # the run's config as it ran: with the encoder it resolved, which a refresh keeps
    resolved = cfg.model_copy(update={"encoder": base_settings.embed_model})
    assert refresh_config(graph_store, base_settings) == (resolved, summary["run_id"])
    assert refresh_config(store, settings) == (RecRunConfig(), None)  # a graph without a run: the defaults
    assert check_recommendation_drift(store, settings)["status"] == "no-model"
