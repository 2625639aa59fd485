"""A run's steps with their I/O: what `kgp pipeline` runs in-process and each Celery task runs on a worker.

export -> featurize -> train (+ calibrate) -> score shard 0..n-1 -> write-back

Each step reads its inputs from the run directory (export and write-back also touch the store), calls the pure
stages of stages.py, writes its outputs to the run directory atomically (rundir.RunDir) and returns a small
JSON-able summary. With KGP_RUNS_URL set, whoever runs a step wraps it in runstore.synced_run, which pulls the
run before and pushes its outputs after. Steps are idempotent: a redelivered step rewrites the same files, and
write-back MERGEs on the run id.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from kgplatform.devices import CPU, device_of
from kgplatform.errors import KgpError
from kgplatform.explain.explainer import Explainer, evidence_texts, explain_predictions
from kgplatform.explain.paths import RuleMiner
from kgplatform.graph.export import export_snapshot
from kgplatform.graph.runs import fail_dead_runs, new_run_id, process_owner, record_run
from kgplatform.graph.store import GraphStore, execute
from kgplatform.graph.writeback import write_predictions
from kgplatform.heap import return_large_frees
from kgplatform.learn.budget import budget_check
from kgplatform.learn.model import LinkPredictor
from kgplatform.learn.newheads import training_view
from kgplatform.pipeline.arrivals import calibrate_arrivals, hold_out_arrivals
from kgplatform.pipeline.config import PipelineConfig, model_name
from kgplatform.pipeline.rundir import RunDir
from kgplatform.pipeline.runstore import synced_run
from kgplatform.pipeline.stages import (
    calibrate,
    candidate_search,
    featurize,
    node_states,
    prepare_splits,
    score_candidates,
    search_report,
    train_and_evaluate,
)
from kgplatform.predictions import Prediction, select_predictions, with_evidence
from kgplatform.progress import ProgressFn
from kgplatform.report.build import try_write_report
from kgplatform.settings import Settings
from kgplatform.snapshot import Snapshot
from kgplatform.text.proposals import (
    METHOD_BOTH,
    fit_text_calibration,
    merge_text_and_model,
    method_counts,
    score_text_links,
)

STEPS = ("export", "featurize", "train", "score", "writeback")


@dataclass
class RunResult:
    run_id: str
    run_dir: Path
    model_name: str
    metrics: dict
    counts: dict
    timings_s: dict = field(default_factory=dict)
    predictions: list[Prediction] = field(default_factory=list)


def run_dir_of(settings: Settings, run_id: str) -> RunDir:
    return RunDir.of(settings.runs_dir, run_id).create()


def load_model(out: RunDir, snapshot: Snapshot, cfg: PipelineConfig, device: torch.device = CPU) -> LinkPredictor:
    """The run's trained link predictor in eval mode on ``device``, rebuilt from its config and text features."""
    model = LinkPredictor(snapshot.num_nodes, snapshot.num_relations, cfg.train, out.load_tensor(RunDir.FEATURES))
    model.load_state_dict(out.load_tensor(RunDir.MODEL))
    return model.to(device).eval()


# ---- steps ------------------------------------------------------------------------------------------------------

def export_step(store: GraphStore, settings: Settings, run_id: str, cfg: PipelineConfig,
                progress: ProgressFn | None = None, owner: str | None = None) -> dict:
    started = time.perf_counter()
    out = run_dir_of(settings, run_id)
    name = model_name(cfg.train)
    cfg = cfg.model_copy(update={"encoder": cfg.encoder or settings.embed_model})  # later steps read this one
    out.write_json(RunDir.CONFIG, {"run_id": run_id, "graph": store.graph_name, "backend": store.backend,
                                   "model": name, **cfg.model_dump()})
    snapshot = export_snapshot(store, labels=cfg.labels, rel_types=cfg.rel_types, page_size=settings.page_size,
                               progress=progress)
    if snapshot.edge_index.shape[1] == 0:
        raise KgpError(f"graph {store.graph_name!r} ({store.backend}) has no asserted relationships to learn from; "
                       "load data with `kgp ingest PATH` (or check KGP_GRAPH / the labels and types chosen)")
    snapshot = prepare_splits(snapshot, cfg)
    out.save_snapshot(snapshot)
    snapshot_hash = snapshot.content_hash()
    record_run(store, run_id=run_id, model=name, config=cfg.model_dump(), metrics={}, counts={}, status="running",
               snapshot_hash=snapshot_hash, method="text+gnn", owner=owner)
    return out.record_step("export", {"nodes": snapshot.num_nodes, "edges": int(snapshot.edge_index.shape[1]),
                                      "snapshot_hash": snapshot_hash}, started)


def featurize_step(settings: Settings, run_id: str, progress: ProgressFn | None = None) -> dict:
    return_large_frees()  # a step's RSS is then what it holds (kgplatform/heap.py)
    started = time.perf_counter()
    out = run_dir_of(settings, run_id)
    cfg = out.load_config()
    stats: dict = {}
    device = device_of(settings)
    text_x = featurize(out.load_snapshot(), settings, cfg.train, progress, stats, encoder=cfg.encoder, device=device)
    if text_x is None and cfg.train.use_text:  # over the text budget: later steps build a graph-only model
        cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"use_text": False})})
        out.write_json(RunDir.CONFIG, {**out.read_json(RunDir.CONFIG), **cfg.model_dump(),
                                       "model": model_name(cfg.train)})
    out.save_tensor(RunDir.FEATURES, text_x)
    return out.record_step("featurize", {"features": stats, "device": str(device)}, started)


def train_step(settings: Settings, run_id: str, progress: ProgressFn | None = None) -> dict:
    """Train, evaluate on test, calibrate on validation, and keep the node states that scoring needs."""
    return_large_frees()  # a step's RSS is then what it holds (kgplatform/heap.py)
    started = time.perf_counter()
    out = run_dir_of(settings, run_id)
    cfg = out.load_config()
    snapshot = out.load_snapshot()
    holdout = hold_out_arrivals(snapshot, cfg)
    device = device_of(settings)
    result, test = train_and_evaluate(training_view(snapshot, holdout), out.load_tensor(RunDir.FEATURES), cfg.train,
                                      progress, device=device)
    if result.choice is not None:  # the input race chose: later steps rebuild the model with what it ran
        cfg = cfg.model_copy(update={"train": result.model.cfg})
        saved = out.read_json(RunDir.CONFIG)
        out.write_json(RunDir.CONFIG, {**saved, **cfg.model_dump(), "model": model_name(cfg.train)})
    out.save_tensor(RunDir.MODEL, result.model.state_dict())  # save_tensor moves it to the CPU
    calibration_model, calibration, points = calibrate(result.model, snapshot, cfg)
    out.save_points(points)  # per-candidate probabilities and labels, for the run report
    text_model, text_report = fit_text_calibration(result.model, snapshot, cfg)  # text-proposed edges
    arrivals, arrivals_report = calibrate_arrivals(result.model, snapshot, cfg, holdout)  # products added later
    fitted = calibration_model.to_dict(snapshot.rel_names)
    fitted.pop("combiner")  # the trees are in calibrators.json; the report keeps what a reader looks at
    out.write_json(RunDir.CALIBRATION, {**calibration, **fitted, "text_links": text_report,
                                        "arrivals": arrivals_report})
    out.save_calibrators(calibration_model, text_model, snapshot.rel_names, arrivals)
    out.save_tensor(RunDir.NODE_STATES, node_states(result.model, snapshot))
    summary = {"test": test, "best_valid_mrr": result.best_valid_mrr, "best_epoch": result.best_epoch,
               "stopped_reason": result.stopped_reason, "calibration": calibration, "history": result.history,
               "text_links": text_report, "members": result.members or None, "input_choice": result.choice,
               "device": str(device)}
    return out.record_step("train", summary, started)


def score_step(settings: Settings, run_id: str, shard: int = 0, num_shards: int = 1,
               progress: ProgressFn | None = None) -> dict:
    return_large_frees()  # a step's RSS is then what it holds (kgplatform/heap.py)
    started = time.perf_counter()
    out = run_dir_of(settings, run_id)
    cfg = out.load_config()
    snapshot = out.load_snapshot()
    device = device_of(settings)
    model = load_model(out, snapshot, cfg, device)
    calibration_model, text_calibration = out.load_calibrators(snapshot.rel_names)  # this run's train step's
    z = out.load_tensor(RunDir.NODE_STATES).to(device)
    search = candidate_search(cfg)
    selected, histogram = score_candidates(model, z, snapshot, calibration_model, cfg, shard=shard,
                                           num_shards=num_shards, progress=progress, search=search)
    text = score_text_links(model, z, snapshot, text_calibration, cfg, shard=shard, num_shards=num_shards)
    selected = merge_text_and_model(selected, text, cfg.max_edges)
    out.write_jsonl(out.shard_file(shard, num_shards), selected)
    out.write_json(out.hist_file(shard, num_shards), histogram)  # for the report
    return out.record_step(f"score-{shard:03d}", {"shard": shard, "num_shards": num_shards, "device": str(device),
                                                  "selected": len(selected), "text_links": len(text),
                                                  "candidate_search": search_report(search, snapshot)}, started)


def read_shards(out: RunDir, num_shards: int) -> list[list[Prediction]]:
    missing = [out.shard_file(i, num_shards).name for i in range(num_shards)
               if not out.shard_file(i, num_shards).is_file()]
    if missing:
        raise KgpError(f"run {out.run_id}: score shards missing: {', '.join(missing)}")
    return [out.read_jsonl(out.shard_file(i, num_shards)) for i in range(num_shards)]


def writeback_step(store: GraphStore, settings: Settings, run_id: str, num_shards: int = 1,
                   progress: ProgressFn | None = None) -> dict:
    """Merge the shards, write the selected edges, and complete the run (metrics.json and the KgpRun node)."""
    started = time.perf_counter()
    out = run_dir_of(settings, run_id)
    cfg = out.load_config()
    name = out.model_name()
    predictions, explanations = explain_step(out, select_predictions(read_shards(out, num_shards), cfg.max_edges))
    out.save_predictions(predictions)
    written = write_predictions(store, predictions, run_id=run_id, model=name, method=METHOD_BOTH,
                                batch_size=settings.write_batch_size, pause_s=settings.write_pause_s,
                                progress=progress)
    summary = out.record_step("writeback", {"predicted": len(predictions), "written_per_type": written,
                                            **method_counts(predictions), "explanations": explanations}, started)
    metrics, counts = run_metrics(out, num_shards)
    record_run(store, run_id=run_id, model=name, config=cfg.model_dump(), metrics=metrics, counts=counts,
               status="completed", snapshot_hash=metrics["snapshot_hash"], method="text+gnn")
    summary.update(try_write_report(out, num_shards))  # a report that fails to render is noted, not fatal
    out.write_json(out.step_file("writeback"), summary)
    return summary


def load_explainer(out: RunDir) -> Explainer:
    """An Explainer for a run directory: its snapshot, text features (else node states) and mined rules."""
    snapshot = out.load_snapshot()
    vectors, basis = out.load_tensor(RunDir.FEATURES), "text embedding"
    if vectors is None and out.has(RunDir.NODE_STATES):
        vectors, basis = out.load_tensor(RunDir.NODE_STATES), "node state"
    miner = RuleMiner(snapshot)
    rules = out.read_json(RunDir.RULES)
    if rules is not None:
        miner.load_json(rules)
    return Explainer(snapshot, vectors, vector_basis=basis, miner=miner)


def explain_step(out: RunDir, predictions: list[Prediction]) -> tuple[list[Prediction], dict]:
    """Evidence for the selected edges (explain/explainer.py): the predictions with their ``evidence``, and the
    figures for metrics.json; writes explanations.jsonl and rules.json. A failure is noted, not fatal."""
    started = time.perf_counter()
    try:
        explainer = load_explainer(out)
        explanations, stats, rules = explain_predictions(explainer, predictions)
    except Exception as exc:  # noqa: BLE001 - the edges are still worth writing without their evidence
        fallback = ["; ".join(x for x in (p.get("mention"), f"p={p['probability']:.2f}", "evidence unavailable")
                              if x) for p in predictions]
        return with_evidence(predictions, fallback), {"error": f"{type(exc).__name__}: {exc}"}
    out.write_json(RunDir.RULES, rules)
    out.write_jsonl(RunDir.EXPLANATIONS, explanations)
    figures = {**stats, "seconds": round(time.perf_counter() - started, 3)}
    return with_evidence(predictions, evidence_texts(predictions, explanations)), figures


def cfg_budget(out: RunDir) -> float:
    return out.load_config().train.time_budget_s


def run_metrics(out: RunDir, num_shards: int) -> tuple[dict, dict]:
    """metrics.json and the KgpRun counts, from the steps' summaries."""
    export, features, train, writeback = (out.read_step(s) for s in ("export", "featurize", "train", "writeback"))
    shards = [out.read_step(f"score-{i:03d}") for i in range(num_shards)]
    timings = {"export": export["seconds"], "featurize": features["seconds"], "train": train["seconds"],
               "score": round(sum(s["seconds"] for s in shards), 3), "writeback": writeback["seconds"]}
    metrics = {"test": train["test"], "best_valid_mrr": train["best_valid_mrr"], "best_epoch": train["best_epoch"],
               "stopped_reason": train["stopped_reason"], "calibration": train["calibration"],
               "budget": budget_check(train["history"], train["stopped_reason"], cfg_budget(out)),
               "features": features["features"], "timings_s": timings, "score_shards": num_shards,
               "snapshot_hash": export["snapshot_hash"], "explanations": writeback.get("explanations"),
               "text_links": train.get("text_links"), "input_choice": train.get("input_choice"),
               "device": train.get("device", "cpu"),  # where it trained; runs before KGP_DEVICE trained on the CPU
               "candidate_search": {"setting": out.load_config().candidate_search,
                                    "validation": train["calibration"].get("candidate_search"),
                                    "write": {rel: mode for shard in shards
                                              for rel, mode in shard.get("candidate_search", {}).items()}}}
    counts = {"predicted": writeback["predicted"], "written_per_type": writeback["written_per_type"],
              "written_per_method": writeback.get("written_per_method", {}),
              "text_and_model_agree": writeback.get("text_and_model_agree", 0),
              "nodes": export["nodes"], "edges": export["edges"]}
    out.write_json(RunDir.METRICS, {**metrics, "counts": counts, "history": train["history"]})
    return metrics, counts


def mark_run(store: GraphStore, run_id: str, status: str) -> None:
    """A run that did not complete says so; `kgp runs retract` removes whatever it wrote."""
    execute(store, "runs/set_status", {"run_id": run_id, "status": status})


# ---- the chain in one process ---------------------------------------------------------------------------------

def run_pipeline(store: GraphStore, settings: Settings, cfg: PipelineConfig, *, run_id: str | None = None,
                 num_shards: int = 1, progress: ProgressFn | None = None) -> RunResult:
    fail_dead_runs(store)  # an earlier in-process run whose process died is 'failed' now, not 'running' forever
    run_id = run_id or new_run_id()
    with synced_run(settings, run_id):  # published to KGP_RUNS_URL (when set) once complete
        export_step(store, settings, run_id, cfg, progress, owner=process_owner())
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
    out = RunDir.of(settings.runs_dir, run_id)
    metrics = out.read_json(RunDir.METRICS)
    metrics.pop("history", None)
    counts = metrics.pop("counts")
    return RunResult(run_id, out.path, out.model_name(), metrics, counts, metrics["timings_s"],
                     out.load_predictions())
