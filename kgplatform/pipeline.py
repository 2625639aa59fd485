"""The stage chain: export -> featurize -> train -> calibrate -> score -> write-back.

Each stage function takes typed inputs and returns typed outputs; the store is touched only by export and
write-back, the disk only through the run directory. Workers call the same functions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, Field

from . import __version__
from .errors import KgpError
from .export import export_snapshot
from .features import encode_texts
from .learn.config import TrainConfig
from .progress import ProgressFn, StageClock
from .runs import new_run_id, record_run, run_dir, write_json
from .settings import Settings
from .snapshot import SPLIT_NONE, SPLIT_TEST, SPLIT_TRAIN, SPLIT_VALID, Snapshot
from .store import GraphStore
from .store import run as run_statement
from .writeback import write_predictions


class PipelineConfig(BaseModel):
    """Everything one run depends on; saved as config.json in the run directory and on the KgpRun node."""

    labels: list[str] = Field(default_factory=list, description="labels to export (empty = all)")
    rel_types: list[str] = Field(default_factory=list, description="relationship types to learn from (empty = all)")
    target_rel_types: list[str] = Field(default_factory=list, description="types to predict (empty = all learned)")
    train: TrainConfig = Field(default_factory=TrainConfig)
    top_k: int = Field(10, ge=1, description="candidates per head and relation")
    target_precision: float = Field(0.9, gt=0.0, le=1.0, description="precision on validation of written edges")
    max_edges: int = Field(10000, ge=0, description="cap on edges written by one run")
    calibration: Literal["isotonic", "platt"] = "isotonic"
    valid_ratio: float = Field(0.1, ge=0.0, lt=0.5, description="share of unsplit edges held out for validation")
    test_ratio: float = Field(0.1, ge=0.0, lt=0.5, description="share of unsplit edges held out for test")


@dataclass
class RunResult:
    run_id: str
    run_dir: Path
    model_name: str
    metrics: dict
    counts: dict
    timings_s: dict = field(default_factory=dict)
    predictions: list[dict] = field(default_factory=list)


def model_name(cfg: TrainConfig) -> str:
    inputs = "+".join(x for x, on in (("text", cfg.use_text), ("emb", cfg.learned_embeddings)) if on)
    return f"kgp-{inputs}-{cfg.encoder}{cfg.num_layers}-{cfg.decoder}@{__version__}"


# ---- stages ---------------------------------------------------------------------------------------------------

def prepare_splits(snapshot: Snapshot, cfg: PipelineConfig) -> Snapshot:
    """Held-out edges for early stopping and calibration.

    Edges the store marks valid/test keep their split. Without any validation edge (a catalog, or a dataset with
    only a train file), a seeded per-relation share of the asserted edges is held out.
    """
    from dataclasses import replace

    from .learn.splits import assign_splits

    if not bool((snapshot.edge_split == SPLIT_VALID).any()):
        snapshot = replace(snapshot, edge_split=torch.full_like(snapshot.edge_split, SPLIT_NONE))
    if bool((snapshot.edge_split == SPLIT_NONE).any()):
        return assign_splits(snapshot, cfg.valid_ratio, cfg.test_ratio, cfg.train.seed)
    return snapshot


def featurize(snapshot: Snapshot, settings: Settings, cfg: TrainConfig, progress: ProgressFn | None = None,
              stats: dict | None = None) -> torch.Tensor | None:
    if not cfg.use_text:
        return None
    return encode_texts(snapshot.node_text, settings.embed_model, settings.cache_dir,
                        batch_size=settings.embed_batch_size, progress=progress, stats=stats)


def train_and_evaluate(snapshot: Snapshot, text_x: torch.Tensor | None, cfg: TrainConfig,
                       progress: ProgressFn | None = None):
    """Train on the train split, early-stop on valid; returns (train result, test metrics)."""
    from .learn.evaluate import rank_metrics
    from .learn.train import train_link_predictor

    result = train_link_predictor(snapshot, text_x, cfg, progress=progress)
    has_test = bool((snapshot.edge_split == SPLIT_TEST).any())
    test = rank_metrics(result.model, snapshot, SPLIT_TEST, type_constrained=cfg.type_constrained,
                        batch_size=cfg.eval_batch_size) if has_test else {}
    return result, test


def calibrate(model, snapshot: Snapshot, cfg: PipelineConfig):
    """Fit probabilities per relation on validation candidates; thresholds reach the target precision there.

    Candidates are the top-k tails of each (head, relation) that has a held-out validation edge, scored with train
    edges only; a candidate is positive when it is a held-out (valid/test) edge. So a probability reads "chance
    this is right, given that the head misses a link of this type"; grouping by whether the head already has
    one keeps a product that has its brand from being given a second (see learn/per_relation.py).
    """
    from .learn.calibrate import validation_candidates
    from .learn.index import train_edges
    from .learn.per_relation import fit_relation_calibration, group_ids, group_name

    with torch.no_grad():
        z = model.encode(*train_edges(snapshot))
    scores, labels, relations, heads = validation_candidates(
        model, z, snapshot, k=cfg.top_k, with_relations=True, type_constrained=cfg.train.type_constrained)
    has_edge = heads_with_edge(snapshot.triples(SPLIT_TRAIN), snapshot.num_nodes, snapshot.num_relations)
    groups = group_ids(relations, has_edge[relations, heads])
    calibration, report = fit_relation_calibration(scores, labels, groups, method=cfg.calibration,
                                                   target_precision=cfg.target_precision)
    report["per_group"] = {group_name(g, snapshot.rel_names): v for g, v in report["per_group"].items()}
    report["target_precision"] = cfg.target_precision
    return calibration, report


def heads_with_edge(triples: torch.Tensor, num_nodes: int, num_relations: int) -> np.ndarray:
    """Bool [R, N]: node n already is the head of an edge of relation r."""
    out = np.zeros((num_relations, num_nodes), dtype=bool)
    out[triples[:, 1].numpy(), triples[:, 0].numpy()] = True
    return out


def domain_heads(snapshot: Snapshot, rel: int) -> torch.Tensor:
    """Nodes whose type has been seen as the head of this relation: the heads worth proposing tails for."""
    heads = snapshot.edge_index[0, snapshot.edge_type == rel]
    types = torch.unique(snapshot.node_type[heads])
    return torch.nonzero(torch.isin(snapshot.node_type, types)).flatten()


def score_candidates(model, snapshot: Snapshot, calibration, cfg: PipelineConfig,
                     progress: ProgressFn | None = None) -> list[dict]:
    """Top-k type-valid candidates per head, calibrated; keep those at or above the threshold, capped.

    Message passing uses every known fact (all splits): at write time the whole graph is evidence.
    """
    from .learn.candidates import top_candidates
    from .learn.per_relation import group_ids

    with torch.no_grad():
        z = model.encode(snapshot.edge_index, snapshot.edge_type)
    targets = cfg.target_rel_types or snapshot.rel_names
    has_edge = heads_with_edge(snapshot.triples(), snapshot.num_nodes, snapshot.num_relations)
    selected = []
    for i, rel_type in enumerate(targets):
        rel = snapshot.rel_names.index(rel_type)
        heads, tails, scores = top_candidates(model, z, snapshot, rel, domain_heads(snapshot, rel), k=cfg.top_k,
                                              type_constrained=cfg.train.type_constrained)
        groups = group_ids(np.full(len(heads), rel), has_edge[rel, heads.numpy()])
        probs = np.zeros(len(heads))
        keep = np.zeros(len(heads), dtype=bool)
        for group in np.unique(groups).tolist():
            m = groups == group
            threshold = calibration.threshold(group)
            if threshold is None:  # this group cannot reach the target precision on validation: write none
                continue
            probs[m] = calibration.predict(group, scores[torch.from_numpy(m)].double().numpy())
            keep[m] = probs[m] >= threshold
        keep_t = torch.from_numpy(keep)
        for h, t, s, p in zip(heads[keep_t].tolist(), tails[keep_t].tolist(), scores[keep_t].tolist(),
                              probs[keep].tolist()):
            selected.append({"head": snapshot.node_ids[h], "rel_type": rel_type, "tail": snapshot.node_ids[t],
                             "score": s, "probability": p})
        if progress:
            progress("score", i + 1, len(targets))
    selected.sort(key=lambda p: (-p["probability"], -p["score"], p["head"], p["rel_type"], p["tail"]))
    return selected[:cfg.max_edges]


def explain_briefly(pred: dict) -> str:
    return f"text+graph model: top-k {pred['rel_type']} candidate, calibrated p={pred['probability']:.2f}"


# ---- the chain -----------------------------------------------------------------------------------------------

def run_pipeline(store: GraphStore, settings: Settings, cfg: PipelineConfig, *, run_id: str | None = None,
                 progress: ProgressFn | None = None) -> RunResult:
    run_id = run_id or new_run_id()
    out = run_dir(settings.runs_dir, run_id)
    name = model_name(cfg.train)
    write_json(out / "config.json", {"run_id": run_id, "graph": store.graph_name, "backend": store.backend,
                                     "model": name, **cfg.model_dump()})
    clock = StageClock()
    timings, lap = clock.timings, clock.lap

    snapshot = export_snapshot(store, labels=cfg.labels, rel_types=cfg.rel_types, page_size=settings.page_size,
                               progress=progress)
    if snapshot.edge_index.shape[1] == 0:
        raise KgpError(f"graph {store.graph_name!r} ({store.backend}) has no asserted relationships to learn from; "
                       "load data with `kgp ingest PATH` (or check KGP_GRAPH / the labels and types chosen)")
    snapshot = prepare_splits(snapshot, cfg)
    snapshot.save(out / "snapshot.pt")
    lap("export")
    snapshot_hash = snapshot.content_hash()
    record_run(store, run_id=run_id, model=name, config=cfg.model_dump(), metrics={}, counts={}, status="running",
               snapshot_hash=snapshot_hash, method="text+gnn")
    try:
        feature_stats: dict = {}
        text_x = featurize(snapshot, settings, cfg.train, progress, feature_stats)
        lap("featurize")
        result, test = train_and_evaluate(snapshot, text_x, cfg.train, progress)
        torch.save(result.model.state_dict(), out / "model.pt")
        lap("train")
        calibration_model, calibration = calibrate(result.model, snapshot, cfg)
        write_json(out / "calibration.json", {**calibration, **calibration_model.to_dict(snapshot.rel_names)})
        lap("calibrate")
        predictions = score_candidates(result.model, snapshot, calibration_model, cfg, progress)
        for p in predictions:
            p["evidence"] = explain_briefly(p)
        (out / "predictions.jsonl").write_text("".join(json.dumps(p) + "\n" for p in predictions))
        lap("score")
        written = write_predictions(store, predictions, run_id=run_id, model=name, method="text+gnn",
                                    batch_size=settings.write_batch_size, progress=progress)
        lap("writeback")
    except BaseException:
        # Leave an honest trace: the run node says failed, and `kgp runs retract` removes any partial edges.
        run_statement(store, "runs/set_status", {"run_id": run_id, "status": "failed"})
        raise
    metrics = {"test": test, "best_valid_mrr": result.best_valid_mrr, "best_epoch": result.best_epoch,
               "stopped_reason": result.stopped_reason, "calibration": calibration, "features": feature_stats,
               "timings_s": timings}
    counts = {"predicted": len(predictions), "written_per_type": written, "nodes": snapshot.num_nodes,
              "edges": int(snapshot.edge_index.shape[1])}
    write_json(out / "metrics.json", {**metrics, "history": result.history})
    record_run(store, run_id=run_id, model=name, config=cfg.model_dump(), metrics=metrics, counts=counts,
               status="completed", snapshot_hash=snapshot_hash, method="text+gnn")
    return RunResult(run_id, out, name, metrics, counts, timings, predictions)
