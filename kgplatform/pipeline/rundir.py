"""RunDir: every file name of a run directory, and its atomic save and load, in one place.

A run directory ($KGP_HOME/runs/<run id>) is the contract between the CLI, the Celery workers, incremental
scoring, the review page and the report. Each step writes its outputs here and the next step reads them back;
nothing else knows the file names. Every write goes to a temporary file first and is then renamed, so a crash never
leaves a half-written artefact behind. With KGP_RUNS_URL set, this directory is the host's working copy of a run
kept at that URL (runstore.py), so workers on other machines share it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from kgplatform.devices import to_cpu
from kgplatform.errors import KgpError
from kgplatform.graph.runs import check_run_id
from kgplatform.learn.per_relation import RelationCalibration
from kgplatform.pipeline.config import PipelineConfig
from kgplatform.predictions import Prediction
from kgplatform.recommend.config import RecRunConfig
from kgplatform.recommend.data import RecData
from kgplatform.snapshot import Snapshot


def write_json(path: Path, value) -> None:
    write_text(path, json.dumps(value, indent=2, sort_keys=True, default=str))


def read_json(path: Path):
    return json.loads(path.read_text())


def write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


class RunDir:
    CONFIG = "config.json"
    SNAPSHOT = "snapshot.pt"
    FEATURES = "features.pt"  # text vectors of the snapshot's nodes, or None (graph-only model)
    MODEL = "model.pt"  # the link predictor's state dict
    NODE_STATES = "node_states.pt"  # encoder output over every known edge: what scoring starts from
    CALIBRATION = "calibration.json"  # readable calibration report and thresholds
    CALIBRATORS = "calibrators.json"  # the fitted calibrators and thresholds: {"model": ..., "text": ... or null}
    # Runs before calibrators.json pickled them; a pickle is never loaded (it can run code), so they are refused.
    LEGACY_PICKLES = ("calibration.pkl", "text_calibration.pkl")
    POINTS = "calibration_points.npz"  # validation candidates: probability, label, group (for the report)
    HISTOGRAM = "candidate_histogram.json"  # write-time candidates per group, merged over shards
    PREDICTIONS = "predictions.jsonl"
    EXPLANATIONS = "explanations.jsonl"
    RULES = "rules.json"
    METRICS = "metrics.json"
    SUMMARY = "summary.json"  # an incremental run's summary
    REPORT = "report.html"
    SCORES = "scores"  # the score shards' selections and histograms
    REC_DATA = "recdata.pt"  # a recommendation run's export: people, behaviour and the KG (recommend.data.RecData)
    REC_VECTORS = "rec_vectors.pt"  # {"users", "entities"}: propagated over all behaviour; what scoring ranks with
    RECOMMENDATIONS = "recommendations.jsonl"
    # This host's record of what it pulled from and pushed to KGP_RUNS_URL, and its lock (runstore.py): dotfiles,
    # never pushed.
    SYNC_STATE = ".synced.json"
    SYNC_LOCK = ".synced.lock"
    # What incremental scoring needs of a base run.
    BASE_ARTEFACTS = (MODEL, NODE_STATES, CALIBRATORS, SNAPSHOT)

    def __init__(self, path: Path):
        self.path = Path(path)

    @classmethod
    def of(cls, runs_root: Path, run_id: str) -> "RunDir":
        """The directory of run ``run_id`` under runs_root (not created: see create)."""
        return cls(Path(runs_root) / check_run_id(run_id))

    def create(self) -> "RunDir":
        self.path.mkdir(parents=True, exist_ok=True)
        return self

    @property
    def run_id(self) -> str:
        return self.path.name

    def file(self, name: str) -> Path:
        return self.path / name

    def has(self, *names: str) -> bool:
        return all((self.path / name).is_file() for name in names)

    def exists(self) -> bool:
        return self.has(self.CONFIG)

    # ---- per-step and per-shard files ---------------------------------------------------------------------------

    def step_file(self, step: str) -> Path:
        return self.path / f"step-{step}.json"

    def shard_file(self, shard: int, num_shards: int) -> Path:
        return self.path / self.SCORES / f"shard-{shard:03d}-of-{num_shards:03d}.jsonl"

    def hist_file(self, shard: int, num_shards: int) -> Path:
        return self.path / self.SCORES / f"shard-{shard:03d}-of-{num_shards:03d}.hist.json"

    def record_step(self, step: str, summary: dict, started: float) -> dict:
        """step-<name>.json: the step's summary, its compute seconds and its wall-clock window (epoch seconds)."""
        seconds = time.perf_counter() - started
        summary = {**summary, "seconds": round(seconds, 3), "finished_at": time.time()}
        summary["started_at"] = summary["finished_at"] - seconds
        write_json(self.step_file(step), summary)
        return summary

    def read_step(self, step: str) -> dict:
        return read_json(self.step_file(step))

    def step_summaries(self) -> dict[str, dict]:
        """Every step-*.json by step name ('export', 'score-000', ...)."""
        return {p.name[len("step-"):-len(".json")]: read_json(p) for p in sorted(self.path.glob("step-*.json"))}

    # ---- JSON, JSON lines, tensors ------------------------------------------------------------------------------

    def _path(self, path_or_name: Path | str) -> Path:
        return self.path / path_or_name if isinstance(path_or_name, str) else path_or_name

    def write_json(self, path_or_name: Path | str, value) -> None:
        path = self._path(path_or_name)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, value)

    def read_json(self, path_or_name: Path | str, default=None):
        path = self._path(path_or_name)
        return read_json(path) if path.is_file() else default

    def write_jsonl(self, path_or_name: Path | str, rows: list[dict]) -> None:
        path = self._path(path_or_name)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, "".join(json.dumps(row) + "\n" for row in rows))

    def read_jsonl(self, path_or_name: Path | str) -> list[dict]:
        return [json.loads(line) for line in self._path(path_or_name).read_text().splitlines() if line]

    def save_tensor(self, name: str, value) -> None:
        tmp = self.path / (name + ".tmp")
        torch.save(to_cpu(value), tmp)  # CPU tensors: a run trained on a GPU reloads on any machine
        tmp.replace(self.path / name)

    def load_tensor(self, name: str):
        # tensors only: nothing is unpickled; onto the CPU whatever saved them, the caller moves what it computes on
        return torch.load(self.path / name, weights_only=True, map_location="cpu")

    # ---- the run's typed artefacts ------------------------------------------------------------------------------

    def load_rec_config(self) -> RecRunConfig:
        saved = self.read_json(self.CONFIG)
        if saved is None or saved.get("kind") != "recommend":
            raise KgpError(f"run {self.run_id} is not a recommendation run (or its export step has not run)")
        return RecRunConfig(**{k: v for k, v in saved.items() if k in RecRunConfig.model_fields})

    def save_recdata(self, data: RecData) -> None:
        self.save_tensor(self.REC_DATA, data.to_dict())

    def load_recdata(self) -> RecData:
        return RecData.from_dict(self.load_tensor(self.REC_DATA))

    def load_config(self) -> PipelineConfig:
        path = self.path / self.CONFIG
        if not path.is_file():
            raise KgpError(f"{path} is missing: the run's export step has not run (or the workers do not share "
                           "runs: give them one KGP_HOME, or one KGP_RUNS_URL)")
        saved = read_json(path)
        return PipelineConfig(**{k: v for k, v in saved.items() if k in PipelineConfig.model_fields})

    def model_name(self) -> str:
        return read_json(self.path / self.CONFIG)["model"]

    def save_snapshot(self, snapshot: Snapshot) -> None:
        tmp = self.path / (self.SNAPSHOT + ".tmp")
        snapshot.save(tmp)
        tmp.replace(self.path / self.SNAPSHOT)

    def load_snapshot(self) -> Snapshot:
        return Snapshot.load(self.path / self.SNAPSHOT)

    def save_calibrators(self, model: RelationCalibration, text: RelationCalibration | None,
                         rel_names: list[str], arrivals: RelationCalibration | None = None) -> None:
        """As JSON (never a pickle): the calibrators' own parameters, which predict exactly what they did.
        arrivals: the calibration of products added after training (pipeline/arrivals.py), if fitted."""
        self.write_json(self.CALIBRATORS, {"model": model.to_dict(rel_names),
                                           "text": text.to_dict(rel_names) if text is not None else None,
                                           "arrivals": arrivals.to_dict(rel_names) if arrivals is not None else None})

    def load_arrivals(self, rel_names: list[str]) -> RelationCalibration | None:
        """The new-product calibration, or None (not fitted, or a run written before it existed)."""
        saved = (self.read_json(self.CALIBRATORS) or {}).get("arrivals")
        return RelationCalibration.from_dict(saved, rel_names) if saved is not None else None

    def load_calibrators(self, rel_names: list[str]) -> tuple[RelationCalibration, RelationCalibration | None]:
        """(the model's calibration, the text proposals' or None), for the snapshot's relation names."""
        saved = self.read_json(self.CALIBRATORS)
        if saved is None:
            if any(self.has(name) for name in self.LEGACY_PICKLES):
                raise KgpError(f"run {self.run_id} was written by an older kgplatform: its calibration is a pickle, "
                               "which is never loaded (a pickle can run code); train a new run with `kgp pipeline`")
            raise KgpError(f"{self.file(self.CALIBRATORS)} is missing: the run's train step has not completed")
        text = saved.get("text")
        return (RelationCalibration.from_dict(saved["model"], rel_names),
                RelationCalibration.from_dict(text, rel_names) if text is not None else None)

    def save_points(self, points: dict) -> None:
        tmp = self.path / (self.POINTS + ".tmp")
        with tmp.open("wb") as f:  # a file object: np.savez would append .npz to a tmp name
            np.savez(f, **points)
        tmp.replace(self.path / self.POINTS)

    def load_points(self) -> dict | None:
        if not self.has(self.POINTS):
            return None
        with np.load(self.path / self.POINTS, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    def save_predictions(self, predictions: list[Prediction]) -> None:
        self.write_jsonl(self.PREDICTIONS, predictions)

    def load_predictions(self) -> list[Prediction]:
        return self.read_jsonl(self.PREDICTIONS)
