"""The PyKEEN baselines are ranked by our evaluator: it must agree with PyKEEN's own filtered evaluator."""

from __future__ import annotations

import pytest

from kgplatform.bench.baseline import PykeenScorer, build, run_baseline
from kgplatform.demo.catalog import generate_catalog, write_dataset
from kgplatform.graph.export import export_snapshot
from kgplatform.ingest.load import ingest_path
from kgplatform.learn.evaluate import rank_metrics
from kgplatform.pipeline.config import PipelineConfig
from kgplatform.pipeline.stages import prepare_splits
from kgplatform.snapshot import SPLIT_TEST, SPLIT_TRAIN, SPLIT_VALID
from tests.support.env import require_dataset

pytest.importorskip("pykeen", reason="the bench extra (pip install -e .[bench]) is not installed")


@pytest.fixture(scope="module")
def snapshot(base_settings, tmp_path_factory):
    from kgplatform.graph.store import open_store

    store = open_store(base_settings, graph="t_baseline")
    folder = tmp_path_factory.mktemp("catalog")
    write_dataset(generate_catalog(seed=5, n_products=120), folder)
    ingest_path(store, folder)
    snap = prepare_splits(export_snapshot(store), PipelineConfig())  # a catalog has no declared splits
    assert len(snap.triples(SPLIT_TEST)) > 0
    yield snap
    store.delete_graph()
    store.close()


@pytest.mark.parametrize("name", ["pykeen-complex", "pykeen-rotate"])
def test_our_filtered_ranks_of_a_pykeen_model_equal_pykeen_own(snapshot, name):
    from pykeen.evaluation import RankBasedEvaluator

    model, loop, factory, cfg = build(name, snapshot, seed=0)
    loop.train(triples_factory=factory, num_epochs=3, batch_size=256, use_tqdm=False)
    ours = rank_metrics(PykeenScorer(model, snapshot.num_relations), snapshot, SPLIT_TEST, type_constrained=False)
    theirs = RankBasedEvaluator(filtered=True).evaluate(
        model, snapshot.triples(SPLIT_TEST), additional_filter_triples=[snapshot.triples(SPLIT_TRAIN),
                                                                         snapshot.triples(SPLIT_VALID)],
        use_tqdm=False, batch_size=256)
    assert ours["mrr"] == pytest.approx(theirs.get_metric("both.realistic.inverse_harmonic_mean_rank"), rel=1e-4)
    assert ours["hits@10"] == pytest.approx(theirs.get_metric("both.realistic.hits_at_10"), abs=1e-4)


@pytest.fixture(scope="module")
def giftcards(base_settings):
    from kgplatform.graph.store import open_store

    store = open_store(base_settings, graph="t_baseline_giftcards")
    ingest_path(store, require_dataset("amazon-giftcards-2018"))
    yield export_snapshot(store)
    store.delete_graph()
    store.close()


def test_baseline_learns_and_keeps_its_best_validation_state(giftcards):
    from kgplatform.learn.index import relation_ranges

    untrained, _, _, _ = build("pykeen-complex", giftcards, seed=0)
    chance = rank_metrics(PykeenScorer(untrained, giftcards.num_relations), giftcards, SPLIT_TEST,
                          allowed=relation_ranges(giftcards))["mrr"]
    # A fixed number of epochs and a budget it cannot reach: the outcome does not depend on the machine's load.
    result = run_baseline("pykeen-complex", giftcards, time_budget_s=3600, eval_every=2, max_epochs=6)
    assert result.stopped_reason == "epochs" and result.epochs == 6
    assert result.best_epoch in (2, 4, 6) and result.best_valid_mrr is not None
    assert result.test["mrr"] > 1.5 * chance, (result.test["mrr"], chance, result.best_epoch)


def test_baseline_stops_at_its_time_budget(giftcards):
    result = run_baseline("pykeen-complex", giftcards, time_budget_s=0.01, eval_every=1)
    assert result.stopped_reason == "time_budget"
    assert result.epochs <= 1  # stopped inside the first epoch, after its first batch
