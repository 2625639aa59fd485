"""RunDir: the run directory's names stay what runs already on disk use; ids are checked before they become a
path; every write is atomic."""

from __future__ import annotations

import time

import pytest
import torch

from kgplatform.errors import KgpError
from kgplatform.graph.runs import new_run_id
from kgplatform.pipeline.config import PipelineConfig
from kgplatform.pipeline.rundir import RunDir
from kgplatform.predictions import Prediction

# The names runs written before RunDir existed have on disk: old runs must still load.
NAMES_ON_DISK = {
    "CONFIG": "config.json", "SNAPSHOT": "snapshot.pt", "FEATURES": "features.pt", "MODEL": "model.pt",
    "NODE_STATES": "node_states.pt", "CALIBRATION": "calibration.json", "CALIBRATION_MODEL": "calibration.pkl",
    "TEXT_CALIBRATION_MODEL": "text_calibration.pkl", "POINTS": "calibration_points.npz",
    "HISTOGRAM": "candidate_histogram.json", "PREDICTIONS": "predictions.jsonl", "EXPLANATIONS": "explanations.jsonl",
    "RULES": "rules.json", "METRICS": "metrics.json", "SUMMARY": "summary.json", "REPORT": "report.html",
}


def test_file_names_are_the_ones_on_disk(tmp_path):
    assert {name: getattr(RunDir, name) for name in NAMES_ON_DISK} == NAMES_ON_DISK
    out = RunDir(tmp_path)
    assert out.step_file("score-001").name == "step-score-001.json"
    assert out.shard_file(1, 4).relative_to(tmp_path).as_posix() == "scores/shard-001-of-004.jsonl"
    assert out.hist_file(1, 4).relative_to(tmp_path).as_posix() == "scores/shard-001-of-004.hist.json"


@pytest.mark.parametrize("run_id", ["../elsewhere", "a/b", ".hidden", "", "x" * 200, "run\x00id", "ü-run", 7])
def test_an_id_that_is_not_one_path_component_is_refused(tmp_path, run_id):
    with pytest.raises(KgpError, match="invalid run id"):
        RunDir.of(tmp_path, run_id)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("run_id", [new_run_id(), "inc-1764460800000-run-20261130-051200-abc123", "run-a"])
def test_ids_the_platform_makes_are_accepted(tmp_path, run_id):
    out = RunDir.of(tmp_path, run_id).create()
    assert out.path == tmp_path / run_id and out.path.is_dir() and out.run_id == run_id


def test_writes_leave_no_temporary_file_and_read_back(tmp_path):
    out = RunDir(tmp_path)
    out.write_json(RunDir.METRICS, {"b": 1, "a": [1, 2]})
    rows: list[Prediction] = [{"head": "p:1", "rel_type": "HAS_BRAND", "tail": "b:1", "score": 2.5,
                               "probability": 0.93, "evidence": "named in the title"}]
    out.save_predictions(rows)
    out.write_jsonl(out.shard_file(0, 1), rows)
    out.save_tensor(RunDir.NODE_STATES, torch.ones(3, 2))
    out.save_pickle(RunDir.CALIBRATION_MODEL, {"threshold": 0.5})
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert out.read_json(RunDir.METRICS) == {"a": [1, 2], "b": 1}
    assert out.load_predictions() == rows == out.read_jsonl(out.shard_file(0, 1))
    assert torch.equal(out.load_tensor(RunDir.NODE_STATES), torch.ones(3, 2))
    assert out.load_pickle(RunDir.CALIBRATION_MODEL) == {"threshold": 0.5}
    assert out.read_json(RunDir.RULES) is None and out.read_json(RunDir.RULES, {}) == {}


def test_saving_no_calibration_removes_a_stale_one(tmp_path):
    out = RunDir(tmp_path)
    out.save_pickle(RunDir.TEXT_CALIBRATION_MODEL, [1])
    out.save_pickle(RunDir.TEXT_CALIBRATION_MODEL, None)
    assert not out.has(RunDir.TEXT_CALIBRATION_MODEL) and out.load_pickle(RunDir.TEXT_CALIBRATION_MODEL) is None


def test_config_round_trips_and_a_missing_one_says_why(tmp_path):
    out = RunDir(tmp_path)
    with pytest.raises(KgpError, match="export step has not run"):
        out.load_config()
    cfg = PipelineConfig(top_k=7, target_precision=0.8)
    out.write_json(RunDir.CONFIG, {"run_id": "r", "model": "kgp-test@0", "graph": "g", **cfg.model_dump()})
    assert out.load_config() == cfg and out.model_name() == "kgp-test@0" and out.exists()


def test_a_step_records_its_seconds_and_window(tmp_path):
    out = RunDir(tmp_path)
    started = time.perf_counter()
    summary = out.record_step("train", {"best_epoch": 3}, started)
    assert out.read_step("train") == summary and summary["best_epoch"] == 3
    assert summary["finished_at"] - summary["started_at"] == pytest.approx(summary["seconds"], abs=1e-6)
    assert out.step_summaries() == {"train": summary}
