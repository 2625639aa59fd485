"""report.html: rendered from hand-made data (pure), and written by a real two-shard pipeline run on FalkorDB."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from kgplatform.demo.catalog import generate_catalog, write_dataset
from kgplatform.graph.store import open_store
from kgplatform.ingest.load import ingest_path
from kgplatform.learn.config import TrainConfig
from kgplatform.pipeline.config import PipelineConfig
from kgplatform.pipeline.rundir import RunDir
from kgplatform.pipeline.stages import probability_bin, probability_histogram
from kgplatform.pipeline.steps import run_pipeline
from kgplatform.report.build import SECTIONS, load_run, render_report, try_write_report
from kgplatform.report.figures import at_least, ece_of, merge_histograms, precision_curve, reliability_bins
from tests.support.env import run_kgp

IMAGE = "data:image/png;base64,"


# ---- the pure parts -------------------------------------------------------------------------------------------

def hand_made() -> dict:
    """Two relations; HAS_BRAND|head has one never reaches the target, so it has no threshold."""
    rng = np.random.default_rng(0)
    probs = rng.uniform(size=200)
    groups = np.array(["HAS_BRAND|head has none"] * 120 + ["HAS_BRAND|head has one"] * 80)
    metric = {"mrr": 0.4, "hits@1": 0.3, "hits@3": 0.45, "hits@10": 0.7, "count": 10}
    hist_none = probability_histogram(np.linspace(0, 1, 50))
    return {
        "run_id": "run-test", "config": {"model": "kgp-x@1", "graph": "g", "backend": "falkordb", "max_edges": 100,
                                         "target_precision": 0.9},
        "steps": {"export": {"seconds": 1.0, "snapshot_hash": "abc123"}, "train": {"seconds": 5.0, "best_epoch": 2},
                  "score-000": {"seconds": 0.5}, "score-001": {"seconds": 0.25}, "writeback": {"seconds": 0.1}},
        "history": [{"epoch": 1, "loss": 2.0, "seconds": 1.0}, {"epoch": 2, "loss": 1.5, "seconds": 2.0,
                                                                 "valid_mrr": 0.3}],
        "test": {**metric, "per_relation": {"HAS_BRAND": metric, "ALSO_BOUGHT": {**metric, "mrr": 0.2}}},
        "calibration": {"target_precision": 0.9, "per_group": {
            "HAS_BRAND|head has none": {"candidates": 120, "positives": 60, "threshold": 0.8},
            "HAS_BRAND|head has one": {"candidates": 80, "positives": 2, "threshold": None}}},
        "points": {"probability": probs, "label": (rng.uniform(size=200) < probs).astype(np.int8), "group": groups},
        "histogram": {
            "HAS_BRAND|head has none": {"relation": "HAS_BRAND", "threshold": 0.8, "candidates": 50,
                                        "at_threshold": 10, "counts": hist_none},
            "HAS_BRAND|head has one": {"relation": "HAS_BRAND", "threshold": None, "candidates": 50,
                                       "at_threshold": 0, "counts": hist_none}},
        "written": {"HAS_BRAND": 10},
    }


def test_render_report_from_hand_made_data():
    page = render_report(hand_made())
    for sid in ("header", *SECTIONS):
        assert f'<section id="{sid}">' in page, sid
    assert page.count(IMAGE) == 5
    assert "nothing written" in page  # the group without a threshold says so instead of crashing
    assert "abc123" in page and "score (2 shards)" in page and "0.750" in page  # hash and summed shard seconds
    assert "200 validation candidates" in page
    assert not re.search(r'(src|href)="(https?:)?//', page) and "<script" not in page  # self-contained


def test_learning_curves_say_when_the_learning_rate_was_lowered():
    run = hand_made()
    assert "Learning rate" not in render_report(run)  # no "lr" in this history: nothing to say
    run["history"] = [h | {"lr": lr} for h, lr in zip(run["history"], (0.003, 0.0015))]
    assert "Learning rate 0.003 to 0.0015 (lowered on plateaus)." in render_report(run)


def test_render_report_without_data_says_what_is_missing():
    page = render_report({"run_id": "run-empty"})
    assert all(f'<section id="{sid}">' in page for sid in SECTIONS)
    assert IMAGE not in page and page.count('class="missing"') == len(SECTIONS)


def test_report_numbers():
    t, precision, n = precision_curve([0.9, 0.9, 0.5, 0.1], [1, 0, 1, 0])
    assert t.tolist() == [0.9, 0.5, 0.1] and n.tolist() == [2, 3, 4]
    assert np.allclose(precision, [0.5, 2 / 3, 0.5])
    bins = reliability_bins([0.05, 0.08, 0.95, 1.0], [0, 1, 1, 1])
    assert [b["count"] for b in bins] == [2, 0, 0, 0, 0, 0, 0, 0, 0, 2]
    assert ece_of(bins) == pytest.approx(0.5 * abs(0.5 - 0.065) + 0.5 * abs(1 - 0.975))
    assert at_least([1, 0, 2, 3]).tolist() == [6, 5, 5, 3]
    merged = merge_histograms([{"g": {"relation": "R", "threshold": 0.5, "candidates": 3, "at_threshold": 1,
                                      "counts": [1, 2]}},
                               {"g": {"relation": "R", "threshold": 0.5, "candidates": 2, "at_threshold": 2,
                                      "counts": [0, 2]}}])
    assert merged["g"]["counts"] == [1, 4] and merged["g"]["candidates"] == 5 and merged["g"]["at_threshold"] == 3


def test_a_report_that_fails_to_render_is_recorded_not_raised(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / RunDir.POINTS).write_bytes(b"not an npz file")
    result = try_write_report(RunDir(tmp_path))
    assert set(result) == {"report_error"} and not (tmp_path / "report.html").exists()


# ---- a real run -----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def report_run(base_settings, tmp_path_factory):
    """One short pipeline on a generated catalog, scored in two shards so the histograms are merged."""
    settings = base_settings.model_copy(update={"graph": "t_report"})
    store = open_store(settings)
    folder = tmp_path_factory.mktemp("report-catalog")
    write_dataset(generate_catalog(seed=3, n_products=160), folder)
    ingest_path(store, folder)
    cfg = PipelineConfig(train=TrainConfig(time_budget_s=15, seed=1), target_precision=0.6, max_edges=10000)
    yield store, settings, run_pipeline(store, settings, cfg, num_shards=2)
    store.delete_graph()
    store.close()


def test_pipeline_writes_a_self_contained_report(report_run):
    _, _, result = report_run
    page = (result.run_dir / "report.html").read_text()
    for sid in ("header", *SECTIONS):
        assert f'<section id="{sid}">' in page, sid
    assert page.count(IMAGE) >= 5 and 'class="missing"' not in page
    assert result.run_id in page and result.metrics["snapshot_hash"] in page
    step = json.loads((result.run_dir / "step-writeback.json").read_text())
    assert step["report"] == str((result.run_dir / "report.html").resolve()) and "report_error" not in step


def test_reliability_data_covers_every_validation_candidate(report_run):
    _, _, result = report_run
    data = load_run(RunDir(result.run_dir))
    summary = result.metrics["calibration"]["summary"]
    bins = reliability_bins(data["points"]["probability"], data["points"]["label"])
    assert sum(b["count"] for b in bins) == len(data["points"]["label"]) == summary["candidates"] > 0
    assert int(data["points"]["label"].sum()) == summary["positives"]
    assert ece_of(bins) == pytest.approx(summary["ece"], abs=1e-9)  # same probabilities as the fitted calibration
    assert f"{summary['candidates']} validation candidates" in (result.run_dir / "report.html").read_text()


def test_edges_at_chosen_thresholds_are_the_edges_written(report_run):
    store, _, result = report_run
    histogram = json.loads((result.run_dir / RunDir.HISTOGRAM).read_text())
    shards = [json.loads((result.run_dir / "scores" / f"shard-{i:03d}-of-002.hist.json").read_text())
              for i in range(2)]
    assert {g: sum(s.get(g, {}).get("candidates", 0) for s in shards) for g in histogram} == \
           {g: h["candidates"] for g, h in histogram.items()}
    at_chosen: dict = {}
    for h in histogram.values():
        assert at_least(h["counts"])[0] == h["candidates"]
        if h["threshold"] is None:
            assert h["at_threshold"] == 0
            continue
        # every candidate with p >= t lies in the bins from t's bin up
        assert at_least(h["counts"])[int(probability_bin(h["threshold"], len(h["counts"])))] >= h["at_threshold"]
        at_chosen[h["relation"]] = at_chosen.get(h["relation"], 0) + h["at_threshold"]
    # the model's selection: text-only edges (method 'text', text_links.py) have thresholds of their own
    rows = store.query("MATCH ()-[r]->() WHERE r.run_id = $run AND r.method <> 'text' "
                       "RETURN type(r) AS type, count(r) AS n", {"run": result.run_id})
    written = {r["type"]: r["n"] for r in rows}
    assert sum(written.values()) < 10000  # max_edges does not bind, so every candidate at threshold is written
    assert written and {k: v for k, v in at_chosen.items() if v} == written


def kgp(*args, env):
    return run_kgp(*args, env=env, timeout=300)


def test_cli_shows_and_rebuilds_the_report(report_run):
    _, settings, result = report_run
    env = {"KGP_STORE": "falkordb", "KGP_HOME": str(settings.home), "KGP_FALKORDB_PORT": str(settings.falkordb_port),
           "KGP_GRAPH": settings.graph}
    path = result.run_dir / "report.html"
    shown = json.loads(kgp("runs", "show", result.run_id, "--json", env=env).stdout)
    assert shown["report"] == str(path.resolve())
    assert f"report: {path.resolve().as_uri()}" in kgp("runs", "show", result.run_id, env=env).stdout
    path.unlink()
    done = kgp("runs", "report", result.run_id, env=env)
    assert done.returncode == 0 and done.stdout.strip() == str(path.resolve()) and path.is_file()
    assert path.read_text().count(IMAGE) >= 5
    missing = kgp("runs", "report", "run-does-not-exist", env=env)
    assert missing.returncode == 2 and "no run directory" in missing.stderr
