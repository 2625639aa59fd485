"""RunDir: the run directory's names stay what runs already on disk use; ids are checked before they become a
path; every write is atomic."""

from __future__ import annotations

import pickle
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from kgplatform.errors import KgpError
from kgplatform.graph.runs import new_run_id
from kgplatform.learn.per_relation import RelationCalibration, fit_relation_calibration, group_ids
from kgplatform.pipeline.config import PipelineConfig
from kgplatform.pipeline.rundir import RunDir
from kgplatform.predictions import Prediction

# The names runs have on disk (calibrators.json replaced the pickles of older runs, which are refused).
NAMES_ON_DISK = {
    "CONFIG": "config.json", "SNAPSHOT": "snapshot.pt", "FEATURES": "features.pt", "MODEL": "model.pt",
    "NODE_STATES": "node_states.pt", "CALIBRATION": "calibration.json", "CALIBRATORS": "calibrators.json",
    "POINTS": "calibration_points.npz",
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
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert out.read_json(RunDir.METRICS) == {"a": [1, 2], "b": 1}
    assert out.load_predictions() == rows == out.read_jsonl(out.shard_file(0, 1))
    assert torch.equal(out.load_tensor(RunDir.NODE_STATES), torch.ones(3, 2))
    assert out.read_json(RunDir.RULES) is None and out.read_json(RunDir.RULES, {}) == {}


def fitted_calibration(seed: int) -> RelationCalibration:
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=400)
    labels = (scores + rng.normal(scale=0.7, size=400) > 0.5).astype(int)
    groups = group_ids(rng.integers(0, 2, 400), rng.integers(0, 2, 400))
    return fit_relation_calibration(scores, labels, groups, method="isotonic", target_precision=0.8)[0]


def test_calibrators_round_trip_as_json_and_predict_exactly_as_fitted(tmp_path):
    rel_names = ["HAS_BRAND", "IN_CATEGORY"]
    model, text = fitted_calibration(0), fitted_calibration(1)
    out = RunDir(tmp_path)
    out.save_calibrators(model, text, rel_names)
    loaded, loaded_text = out.load_calibrators(rel_names)
    scores = np.linspace(-3, 3, 101)
    for group in range(4):
        assert np.array_equal(loaded.predict(group, scores), model.predict(group, scores))
        assert loaded.threshold(group) == model.threshold(group)
        assert np.array_equal(loaded_text.predict(group, scores), text.predict(group, scores))
    out.save_calibrators(model, None, rel_names)
    assert out.load_calibrators(rel_names)[1] is None
    with pytest.raises(ValueError, match="does not match this snapshot"):
        out.load_calibrators(["OTHER"])


class Planted:
    """Unpickling this creates a file: the proof that a pickle ran code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickle_planted_in_a_run_directory_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    out = RunDir.of(tmp_path, "run-old").create()
    for name in RunDir.LEGACY_PICKLES:
        out.file(name).write_bytes(pickle.dumps(Planted(marker)))
    torch.save({"node_ids": Planted(marker)}, out.file(RunDir.SNAPSHOT))  # a snapshot that would run code too
    with pytest.raises(KgpError, match="never loaded"):
        out.load_calibrators(["HAS_BRAND"])
    with pytest.raises(pickle.UnpicklingError):
        out.load_snapshot()
    assert not marker.exists()


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
    assert summary["finished_at"] - summary["started_at"] == pytest.approx(summary["seconds"], abs=1e-3)
    assert out.step_summaries() == {"train": summary}
