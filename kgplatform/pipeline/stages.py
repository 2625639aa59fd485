"""The pure stages of a run: splits -> features -> train -> calibrate -> score candidates -> select.

Each takes typed inputs and returns typed outputs, touching neither the store nor the disk (features read the
embedding cache). run_steps.py wraps them with the I/O: the store at export and write-back, the run directory
between steps. `kgp pipeline` and the Celery workers run those same steps.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, Field

from . import __version__
from .features import encode_texts
from .learn.config import TrainConfig
from .progress import ProgressFn
from .settings import Settings
from .snapshot import SPLIT_NONE, SPLIT_TEST, SPLIT_TRAIN, SPLIT_VALID, Snapshot


HIST_BINS = 100  # write-time candidate probabilities are summarized in 0.01-wide bins (see score_candidates)


class PipelineConfig(BaseModel):
    """Everything one run depends on; saved as config.json in the run directory and on the KgpRun node."""

    labels: list[str] = Field(default_factory=list, description="labels to export (empty = all)")
    rel_types: list[str] = Field(default_factory=list, description="relationship types to learn from (empty = all)")
    target_rel_types: list[str] = Field(default_factory=list, description="types to predict (empty = all learned)")
    train: TrainConfig = Field(default_factory=TrainConfig)
    top_k: int = Field(10, ge=1, description="candidates per head and relation")
    target_precision: float = Field(0.9, gt=0.0, le=1.0, description="precision on validation of written edges")
    precision_confidence: float | None = Field(
        0.75, gt=0.0, lt=1.0,
        description="a group's threshold must reach target_precision with this confidence (one-sided "
        "Clopper-Pearson bound on its validation selection), not just in observed precision: on CoDEx-S the "
        "observed-precision rule gave 0.80 precision on held-out validation folds, 0.75 gave 0.93 (None = "
        "observed precision)")
    max_edges: int = Field(10000, ge=0, description="cap on edges written by one run")
    calibration: Literal["isotonic", "platt"] = "isotonic"
    valid_ratio: float = Field(0.1, ge=0.0, lt=0.5, description="share of unsplit edges held out for validation")
    test_ratio: float = Field(0.1, ge=0.0, lt=0.5, description="share of unsplit edges held out for test")
    text_links: bool = Field(
        True, description="also write edges whose tail is named in the head's text (brands, categories), "
        "re-scored by the model and kept at a threshold chosen on validation text proposals (text_links.py)")


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
    Returns (calibration, report, points): points has each candidate's probability, label and group name.
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
                                                   target_precision=cfg.target_precision,
                                                   confidence=cfg.precision_confidence)
    report["per_group"] = {group_name(g, snapshot.rel_names): v for g, v in report["per_group"].items()}
    report["target_precision"] = cfg.target_precision
    report["precision_confidence"] = cfg.precision_confidence
    # per-candidate data for the run report's reliability and precision-threshold plots
    probs = np.empty(len(scores))
    for group in np.unique(groups).tolist():
        probs[groups == group] = calibration.predict(group, scores[groups == group])
    points = {"probability": probs, "label": np.asarray(labels, dtype=np.int8),
              "group": np.array([group_name(g, snapshot.rel_names) for g in groups.tolist()], dtype=str)}
    return calibration, report, points


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


def node_states(model, snapshot: Snapshot) -> torch.Tensor:
    """Encoder output over every known fact (all splits): at write time the whole graph is evidence."""
    with torch.no_grad():
        return model.encode(snapshot.edge_index, snapshot.edge_type)


def shard_heads(heads: torch.Tensor, shard: int, num_shards: int) -> torch.Tensor:
    """Heads of one shard: node index modulo the shard count, so every shard gets a similar mix of types."""
    if not 0 <= shard < num_shards:
        raise ValueError(f"shard {shard} is outside 0..{num_shards - 1}")
    return heads[heads % num_shards == shard]


def score_candidates(model, z: torch.Tensor, snapshot: Snapshot, calibration, cfg: PipelineConfig, *,
                     shard: int = 0, num_shards: int = 1, heads: torch.Tensor | None = None,
                     progress: ProgressFn | None = None) -> tuple[list[dict], dict]:
    """Top-k type-valid candidates per head of this shard, calibrated; keep those at or above the threshold.

    z comes from node_states. Shards split the candidate heads; select_predictions merges them. heads: only these
    nodes are scored as heads (the incremental job's changed nodes); default every node of a relation's domain.
    Returns (selected, histogram): histogram summarizes every candidate's probability per calibration group
    ({group name: {relation, threshold, candidates, at_threshold, counts}}; see probability_histogram), so the
    run report can show how many edges each threshold would write.
    """
    from .learn.candidates import top_candidates
    from .learn.per_relation import group_ids, group_name

    targets = cfg.target_rel_types or snapshot.rel_names
    has_edge = heads_with_edge(snapshot.triples(), snapshot.num_nodes, snapshot.num_relations)
    selected, histogram = [], {}
    for i, rel_type in enumerate(targets):
        rel = snapshot.rel_names.index(rel_type)
        rel_heads = shard_heads(domain_heads(snapshot, rel), shard, num_shards)
        if heads is not None:
            rel_heads = rel_heads[torch.isin(rel_heads, heads)]
        cand_heads, tails, scores = top_candidates(model, z, snapshot, rel, rel_heads, k=cfg.top_k,
                                               type_constrained=cfg.train.type_constrained)
        groups = group_ids(np.full(len(cand_heads), rel), has_edge[rel, cand_heads.numpy()])
        probs = np.zeros(len(cand_heads))
        keep = np.zeros(len(cand_heads), dtype=bool)
        for group in np.unique(groups).tolist():
            m = groups == group
            threshold = calibration.threshold(group)
            probs[m] = calibration.predict(group, scores[torch.from_numpy(m)].double().numpy())
            if threshold is not None:  # None: this group cannot reach the target precision on validation
                keep[m] = probs[m] >= threshold
            histogram[group_name(group, snapshot.rel_names)] = {
                "relation": rel_type, "threshold": threshold, "candidates": int(m.sum()),
                "at_threshold": int(keep[m].sum()), "counts": probability_histogram(probs[m])}
        keep_t = torch.from_numpy(keep)
        for h, t, s, p in zip(cand_heads[keep_t].tolist(), tails[keep_t].tolist(), scores[keep_t].tolist(),
                              probs[keep].tolist()):
            selected.append({"head": snapshot.node_ids[h], "rel_type": rel_type, "tail": snapshot.node_ids[t],
                             "score": s, "probability": p})
        if progress:
            progress("score", i + 1, len(targets))
    return select_predictions([selected], cfg.max_edges), histogram


def probability_bin(probs, bins: int = HIST_BINS) -> np.ndarray:
    """Bin index of each probability: bin i holds i/bins <= p < (i+1)/bins, and p = 1 falls in the last bin."""
    return np.clip((np.asarray(probs, dtype=float) * bins).astype(int), 0, bins - 1)


def probability_histogram(probs: np.ndarray, bins: int = HIST_BINS) -> list[int]:
    """Counts over equal-width probability bins (probability_bin)."""
    return np.bincount(probability_bin(probs, bins), minlength=bins).tolist()


def select_predictions(shards: list[list[dict]], max_edges: int) -> list[dict]:
    """Merge shard outputs: most probable first (ties broken by ids, so the order is reproducible), capped."""
    merged = [p for shard in shards for p in shard]
    merged.sort(key=lambda p: (-p["probability"], -p["score"], p["head"], p["rel_type"], p["tail"]))
    return merged[:max_edges]

