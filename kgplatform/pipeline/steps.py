"""A run's steps with their I/O: what `kgp pipeline` runs in-process and each Celery task runs on a worker.

export -> featurize -> train (+ calibrate) -> score shard 0..n-1 -> write-back

Each step reads its inputs from the run directory (export and write-back also touch the store), calls the pure
stages of pipeline.py, writes its outputs to the run directory atomically and returns a small JSON-able summary.
Steps are idempotent: a redelivered step rewrites the same files, and write-back MERGEs on the run id.
"""

from __future__ import annotations

import json
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .errors import KgpError
from .export import export_snapshot
from .pipeline import (PipelineConfig, calibrate, featurize, model_name, node_states,
                       prepare_splits, score_candidates, select_predictions, train_and_evaluate)
from .progress import ProgressFn
from .report import hist_file, save_points, try_write_report
from .runs import new_run_id, read_json, record_run, run_dir, write_json
from .settings import Settings
from .snapshot import Snapshot
from .store import GraphStore
from .store import run as run_statement
from .text_links import METHOD_BOTH, fit_text_calibration, merge_text_and_model, method_counts, score_text_links
from .writeback import write_predictions

STEPS = ("export", "featurize", "train", "score", "writeback")


@dataclass
class RunResult:
    run_id: str
    run_dir: Path
    model_name: str
    metrics: dict
    counts: dict
    timings_s: dict = field(default_factory=dict)
    predictions: list[dict] = field(default_factory=list)


def load_config(out: Path) -> PipelineConfig:
    path = out / "config.json"
    if not path.is_file():
        raise KgpError(f"{path} is missing: the run's export step has not run (or KGP_HOME differs between "
                       "the workers; they must share one run directory)")
    saved = read_json(path)
    return PipelineConfig(**{k: v for k, v in saved.items() if k in PipelineConfig.model_fields})


def save_tensor(value, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(value, tmp)
    tmp.replace(path)


def record_step(out: Path, step: str, summary: dict, started: float) -> dict:
    """step-<name>.json: the step's summary, its compute seconds and its wall-clock window (epoch seconds)."""
    seconds = time.perf_counter() - started
    summary = {**summary, "seconds": round(seconds, 3), "finished_at": time.time()}
    summary["started_at"] = summary["finished_at"] - seconds
    write_json(out / f"step-{step}.json", summary)
    return summary


def save_pickle(value, path: Path) -> None:
    """Atomically; None removes the file (a rerun that no longer has it leaves no stale one)."""
    if value is None:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(pickle.dumps(value))
    tmp.replace(path)


def load_pickle(path: Path):
    """None when the file is absent (text_calibration.pkl: runs from before text links, or no proposal)."""
    return pickle.loads(path.read_bytes()) if path.is_file() else None


def shard_file(out: Path, shard: int, num_shards: int) -> Path:
    return out / "scores" / f"shard-{shard:03d}-of-{num_shards:03d}.jsonl"


# ---- steps ------------------------------------------------------------------------------------------------------

def export_step(store: GraphStore, settings: Settings, run_id: str, cfg: PipelineConfig,
                progress: ProgressFn | None = None) -> dict:
    started = time.perf_counter()
    out = run_dir(settings.runs_dir, run_id)
    name = model_name(cfg.train)
    write_json(out / "config.json", {"run_id": run_id, "graph": store.graph_name, "backend": store.backend,
                                     "model": name, **cfg.model_dump()})
    snapshot = export_snapshot(store, labels=cfg.labels, rel_types=cfg.rel_types, page_size=settings.page_size,
                               progress=progress)
    if snapshot.edge_index.shape[1] == 0:
        raise KgpError(f"graph {store.graph_name!r} ({store.backend}) has no asserted relationships to learn from; "
                       "load data with `kgp ingest PATH` (or check KGP_GRAPH / the labels and types chosen)")
    snapshot = prepare_splits(snapshot, cfg)
    snapshot.save(out / "snapshot.pt")
    snapshot_hash = snapshot.content_hash()
    record_run(store, run_id=run_id, model=name, config=cfg.model_dump(), metrics={}, counts={}, status="running",
               snapshot_hash=snapshot_hash, method="text+gnn")
    return record_step(out, "export", {"nodes": snapshot.num_nodes, "edges": int(snapshot.edge_index.shape[1]),
                                       "snapshot_hash": snapshot_hash}, started)


def featurize_step(settings: Settings, run_id: str, progress: ProgressFn | None = None) -> dict:
    started = time.perf_counter()
    out = run_dir(settings.runs_dir, run_id)
    cfg = load_config(out)
    snapshot = Snapshot.load(out / "snapshot.pt")
    stats: dict = {}
    text_x = featurize(snapshot, settings, cfg.train, progress, stats)
    save_tensor(text_x, out / "features.pt")
    return record_step(out, "featurize", {"features": stats}, started)


def train_step(settings: Settings, run_id: str, progress: ProgressFn | None = None) -> dict:
    """Train, evaluate on test, calibrate on validation, and keep the node states that scoring needs."""
    started = time.perf_counter()
    out = run_dir(settings.runs_dir, run_id)
    cfg = load_config(out)
    snapshot = Snapshot.load(out / "snapshot.pt")
    text_x = torch.load(out / "features.pt")
    result, test = train_and_evaluate(snapshot, text_x, cfg.train, progress)
    save_tensor(result.model.state_dict(), out / "model.pt")
    calibration_model, calibration, points = calibrate(result.model, snapshot, cfg)
    save_points(out, points)  # per-candidate probabilities and labels, for the run report
    text_model, text_report = fit_text_calibration(result.model, snapshot, cfg)  # text-proposed edges
    write_json(out / "calibration.json", {**calibration, **calibration_model.to_dict(snapshot.rel_names),
                                          "text_links": text_report})
    save_pickle(calibration_model, out / "calibration.pkl")
    save_pickle(text_model, out / "text_calibration.pkl")
    save_tensor(node_states(result.model, snapshot), out / "node_states.pt")
    summary = {"test": test, "best_valid_mrr": result.best_valid_mrr, "best_epoch": result.best_epoch,
               "stopped_reason": result.stopped_reason, "calibration": calibration, "history": result.history,
               "text_links": text_report, "members": result.members or None}
    return record_step(out, "train", summary, started)


def load_model(out: Path, snapshot: Snapshot, cfg: PipelineConfig):
    from .learn.model import LinkPredictor

    text_x = torch.load(out / "features.pt")
    model = LinkPredictor(snapshot.num_nodes, snapshot.num_relations, cfg.train, text_x)
    model.load_state_dict(torch.load(out / "model.pt"))
    return model.eval()


def score_step(settings: Settings, run_id: str, shard: int = 0, num_shards: int = 1,
               progress: ProgressFn | None = None) -> dict:
    started = time.perf_counter()
    out = run_dir(settings.runs_dir, run_id)
    cfg = load_config(out)
    snapshot = Snapshot.load(out / "snapshot.pt")
    model = load_model(out, snapshot, cfg)
    calibration_model = pickle.loads((out / "calibration.pkl").read_bytes())  # written by this run's train step
    z = torch.load(out / "node_states.pt")
    selected, histogram = score_candidates(model, z, snapshot, calibration_model, cfg, shard=shard,
                                           num_shards=num_shards, progress=progress)
    text = score_text_links(model, z, snapshot, load_pickle(out / "text_calibration.pkl"), cfg, shard=shard,
                            num_shards=num_shards)
    selected = merge_text_and_model(selected, text, cfg.max_edges)
    path = shard_file(out, shard, num_shards)
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(p) + "\n" for p in selected))
    tmp.replace(path)
    write_json(hist_file(out, shard, num_shards), histogram)  # all candidates, for the report's edges-vs-threshold
    return record_step(out, f"score-{shard:03d}", {"shard": shard, "num_shards": num_shards,
                                                   "selected": len(selected), "text_links": len(text)}, started)


def read_shards(out: Path, num_shards: int) -> list[list[dict]]:
    missing = [shard_file(out, i, num_shards).name for i in range(num_shards)
               if not shard_file(out, i, num_shards).is_file()]
    if missing:
        raise KgpError(f"run {out.name}: score shards missing: {', '.join(missing)}")
    return [[json.loads(line) for line in shard_file(out, i, num_shards).read_text().splitlines() if line]
            for i in range(num_shards)]


def writeback_step(store: GraphStore, settings: Settings, run_id: str, num_shards: int = 1,
                   progress: ProgressFn | None = None) -> dict:
    """Merge the shards, write the selected edges, and complete the run (metrics.json and the KgpRun node)."""
    started = time.perf_counter()
    out = run_dir(settings.runs_dir, run_id)
    cfg = load_config(out)
    name = read_json(out / "config.json")["model"]
    predictions = select_predictions(read_shards(out, num_shards), cfg.max_edges)
    explanations = explain_step(out, predictions)  # sets each prediction's evidence
    tmp = out / "predictions.jsonl.tmp"
    tmp.write_text("".join(json.dumps(p) + "\n" for p in predictions))
    tmp.replace(out / "predictions.jsonl")
    written = write_predictions(store, predictions, run_id=run_id, model=name, method=METHOD_BOTH,
                                batch_size=settings.write_batch_size, pause_s=settings.write_pause_s,
                                progress=progress)
    summary = record_step(out, "writeback", {"predicted": len(predictions), "written_per_type": written,
                                             **method_counts(predictions), "explanations": explanations}, started)
    metrics, counts = run_metrics(out, num_shards)
    record_run(store, run_id=run_id, model=name, config=cfg.model_dump(), metrics=metrics, counts=counts,
               status="completed", snapshot_hash=metrics["snapshot_hash"], method="text+gnn")
    summary.update(try_write_report(out, num_shards))  # a report that fails to render is noted, not fatal
    write_json(out / "step-writeback.json", summary)
    return summary


def load_explainer(out: Path):
    """An Explainer for a run directory: its snapshot, text features (else node states) and mined rules."""
    from .explain import Explainer
    from .explain_paths import RuleMiner

    snapshot = Snapshot.load(out / "snapshot.pt")
    vectors, basis = torch.load(out / "features.pt"), "text embedding"
    if vectors is None and (out / "node_states.pt").is_file():
        vectors, basis = torch.load(out / "node_states.pt"), "node state"
    miner = RuleMiner(snapshot)
    if (out / "rules.json").is_file():
        miner.load_json(read_json(out / "rules.json"))
    return Explainer(snapshot, vectors, vector_basis=basis, miner=miner)


def explain_step(out: Path, predictions: list[dict]) -> dict:
    """Evidence for the selected edges (kgplatform/explain.py): sets each one's `evidence`, writes
    explanations.jsonl and rules.json, returns the figures for metrics.json. A failure is noted, not fatal."""
    from .explain import explain_predictions

    started = time.perf_counter()
    try:
        explainer = load_explainer(out)
        explanations, stats, rules = explain_predictions(explainer, predictions)
    except Exception as exc:  # noqa: BLE001 - the edges are still worth writing without their evidence
        for p in predictions:
            p["evidence"] = "; ".join(x for x in (p.get("mention"), f"p={p['probability']:.2f}",
                                                  "evidence unavailable") if x)
        return {"error": f"{type(exc).__name__}: {exc}"}
    write_json(out / "rules.json", rules)
    tmp = out / "explanations.jsonl.tmp"
    tmp.write_text("".join(json.dumps(e) + "\n" for e in explanations))
    tmp.replace(out / "explanations.jsonl")
    return {**stats, "seconds": round(time.perf_counter() - started, 3)}


def run_metrics(out: Path, num_shards: int) -> tuple[dict, dict]:
    """metrics.json and the KgpRun counts, from the steps' summaries."""
    export, features, train, writeback = (read_json(out / f"step-{s}.json")
                                          for s in ("export", "featurize", "train", "writeback"))
    shards = [read_json(out / f"step-score-{i:03d}.json") for i in range(num_shards)]
    timings = {"export": export["seconds"], "featurize": features["seconds"], "train": train["seconds"],
               "score": round(sum(s["seconds"] for s in shards), 3), "writeback": writeback["seconds"]}
    metrics = {"test": train["test"], "best_valid_mrr": train["best_valid_mrr"], "best_epoch": train["best_epoch"],
               "stopped_reason": train["stopped_reason"], "calibration": train["calibration"],
               "features": features["features"], "timings_s": timings, "score_shards": num_shards,
               "snapshot_hash": export["snapshot_hash"], "explanations": writeback.get("explanations"),
               "text_links": train.get("text_links")}
    counts = {"predicted": writeback["predicted"], "written_per_type": writeback["written_per_type"],
              "written_per_method": writeback.get("written_per_method", {}),
              "text_and_model_agree": writeback.get("text_and_model_agree", 0),
              "nodes": export["nodes"], "edges": export["edges"]}
    write_json(out / "metrics.json", {**metrics, "counts": counts, "history": train["history"]})
    return metrics, counts


def mark_run(store: GraphStore, run_id: str, status: str) -> None:
    """A run that did not complete says so; `kgp runs retract` removes whatever it wrote."""
    run_statement(store, "runs/set_status", {"run_id": run_id, "status": status})


# ---- the chain in one process ---------------------------------------------------------------------------------

def run_pipeline(store: GraphStore, settings: Settings, cfg: PipelineConfig, *, run_id: str | None = None,
                 num_shards: int = 1, progress: ProgressFn | None = None) -> RunResult:
    run_id = run_id or new_run_id()
    export_step(store, settings, run_id, cfg, progress)
    try:
        featurize_step(settings, run_id, progress)
        train_step(settings, run_id, progress)
        for shard in range(num_shards):
            score_step(settings, run_id, shard, num_shards, progress)
        writeback_step(store, settings, run_id, num_shards, progress)
    except BaseException:
        mark_run(store, run_id, "failed")
        raise
    return load_result(settings, run_id)


def load_result(settings: Settings, run_id: str) -> RunResult:
    out = settings.runs_dir / run_id
    metrics = read_json(out / "metrics.json")
    metrics.pop("history", None)
    counts = metrics.pop("counts")
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines() if line]
    return RunResult(run_id, out, read_json(out / "config.json")["model"], metrics, counts, metrics["timings_s"],
                     predictions)
