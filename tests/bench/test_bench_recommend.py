"""`kgp bench recommend` end to end on a small planted folder: the store, ours, the α sweep, baselines, targets and
the markdown table, through the real CLI."""

from __future__ import annotations

import json

from kgplatform.bench.recommend import check_targets, render_markdown
from tests.support.env import run_kgp
from tests.support.recfolders import write_rec_folder
from tests.support.recsynth import planted_folder_files

FAST = {"dim": 16, "max_epochs": 60, "patience": 10, "lr": 0.02, "batch_size": 512, "use_text": False}


def test_bench_recommend_reports_ours_the_sweep_and_baselines(tmp_path, cli_env):
    folder = write_rec_folder(tmp_path / "planted", planted_folder_files())
    config = tmp_path / "rec.json"
    config.write_text(json.dumps(FAST))
    out_file = tmp_path / "report.json"
    done = run_kgp("bench", "recommend", "--data", str(folder), "--time-budget", "40", "--baseline", "popularity",
                   "--baseline", "als", "--alpha", "0", "--alpha", "0.1", "--train-config", str(config),
                   "--out", str(out_file), "--json", env=cli_env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out_file.read_text())
    assert report["data"]["users"] == 60 and report["data"]["items"] == 48
    for key in ("recall@20", "ndcg@20", "recall@10", "ndcg@10", "hit@20", "cold_recall@20", "coverage@20"):
        assert 0.0 <= report["test"][key] <= 1.0
    assert set(report["baselines"]) == {"popularity", "als"}
    assert report["test"]["recall@20"] > report["baselines"]["popularity"]["test"]["recall@20"]
    assert [row["alpha"] for row in report["alpha_sweep"]] == [0.0, 0.1]
    assert {"ingest", "export", "train ours", "baseline als"} <= set(report["timings_s"])
    assert report["ctr"] is None  # no ctr files in this folder
    table = tmp_path / "table.md"
    done = run_kgp("bench", "recommend-table", str(out_file), "--markdown", str(table), env=cli_env)
    assert done.returncode == 0, done.stderr
    text = table.read_text()
    assert "| **ours**" in text and "| popularity |" in text and "α sweep" in text


def test_targets_compare_against_every_baseline_and_name_the_gap():
    report = {"dataset": "ml100k-fb", "test": {"recall@20": 0.30, "ndcg@20": 0.40},
              "baselines": {"a": {"test": {"recall@20": 0.32, "ndcg@20": 0.35}},
                            "b": {"test": {"recall@20": 0.25, "ndcg@20": 0.39}}}}
    recall, ndcg = check_targets(report)
    assert not recall["met"] and recall["gap"] == 0.02 and recall["best_other_name"] == "a"
    assert ndcg["met"] and ndcg["gap"] is None


def test_markdown_marks_missing_figures():
    rep = {"dataset": "x", "data": {"users": 1, "items": 2, "train": 3, "valid": 1, "test": 1, "kg_triples": 0},
           "time_budget_s": 5, "ours": {"model": "m", "test": {"recall@20": 0.5}, "ctr": None, "train_s": 1},
           "baselines": {}, "alpha_sweep": [], "targets": []}
    assert "| 0.5000 | –" in render_markdown([rep])
