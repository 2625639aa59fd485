"""`kgp bench yield`: figures come from the linkpred reports' calibration_test blocks, before beside after."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from kgplatform.bench.yields import render_yield_markdown, yield_table


def report(dataset: str, selected: int, true: int, positives: int, mrr: float) -> dict:
    per_relation = {"HAS_BRAND": {"selected": selected, "selected_true": true, "positives": positives}}
    return {"dataset": dataset, "test": {"mrr": mrr}, "time_budget_s": 300.0,
            "calibration_test": {"selected": selected, "selected_true": true, "positives": positives,
                                 "per_relation": per_relation}}


def test_yield_sets_the_default_beside_before_with_precision_and_recall():
    table = yield_table([report("g", 300, 290, 1000, 0.4)], {"g": report("g", 100, 80, 1000, 0.3)})
    row = table["g"]
    assert row["default"]["precision"] == pytest.approx(290 / 300)
    assert row["default"]["recall_at_target"] == pytest.approx(0.29)
    assert row["before"]["recall_at_target"] == pytest.approx(0.08)
    assert row["default"]["per_relation"]["HAS_BRAND"]["correct"] == 290
    text = render_yield_markdown(table)
    assert "3.6×" in text and "| g | before (300 s) | 0.300 | 100 | 80 | 0.800 | 0.080 |  |" in text


def test_nothing_written_reads_as_no_precision_not_zero():
    row = yield_table([report("m", 0, 0, 500, 0.2)], {})["m"]
    assert row["default"]["precision"] is None and "before" not in row
    assert "| – |" in render_yield_markdown({"m": row})


def test_the_command_keeps_frozen_before_figures(tmp_path):
    default = tmp_path / "linkpred-default-g.json"
    default.write_text(json.dumps(report("g", 10, 9, 100, 0.4)))
    (tmp_path / "linkpred-g.json").write_text(json.dumps(report("g", 50, 40, 100, 0.3)))
    frozen = tmp_path / "yield.json"
    frozen.write_text(json.dumps({"g": {"before": {"written": 1, "correct": 1, "precision": 1.0,
                                                   "recall_at_target": 0.01, "positives": 100, "test_mrr": 0.1,
                                                   "time_budget_s": 60, "per_relation": {}}}}))
    done = subprocess.run([sys.executable, "-m", "kgplatform.cli", "bench", "yield", str(default), "--before",
                           str(tmp_path), "--json-out", str(frozen)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    table = json.loads(frozen.read_text())
    assert table["g"]["before"]["written"] == 1 and table["g"]["default"]["written"] == 10


def test_the_race_choice_and_the_ablations_are_reported():
    default = report("g", 300, 290, 1000, 0.4) | {
        "input_choice": {"chosen": "graph only", "reason": "best validation MRR 0.410"},
        "ablations": {"graph only": {"test": {"mrr": 0.4}}, "text only": {"test": {"mrr": 0.25}}}}
    table = yield_table([default], {})
    assert table["g"]["default"]["inputs"] == "graph only"
    text = render_yield_markdown(table)
    assert "- g: graph only: best validation MRR 0.410" in text
    assert "| g | 0.400 | 0.400 | 0.250 |" in text
