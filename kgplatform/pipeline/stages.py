"""The pure stages of a run: splits -> features -> train -> calibrate -> score candidates -> select.

Each takes typed inputs and returns typed outputs, touching neither the store nor the disk (features read the
embedding cache). steps.py wraps them with the I/O: the store at export and write-back, the run directory
between steps. `kgp pipeline` and the Celery workers run those same steps.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from kgplatform.devices import CPU
from kgplatform.errors import KgpError
from kgplatform.learn.ann_candidates import CandidateSearch
from kgplatform.learn.calibrate import held_out_candidates
from kgplatform.learn.candidates import domain_heads, heads_with_edge, query_candidates, shard_heads
from kgplatform.learn.config import TrainConfig
from kgplatform.learn.evaluate import rank_metrics, sample_triples
from kgplatform.learn.index import train_edges
from kgplatform.learn.mentions import mention_pairs
from kgplatform.learn.minibatch import encode_all
from kgplatform.learn.per_relation import fit_relation_calibration, group_ids, group_name
from kgplatform.learn.selector import FEATURES, FeatureContext, candidate_features, feature_context, fit_combiner
from kgplatform.learn.splits import assign_splits
from kgplatform.learn.train import train_link_predictor
from kgplatform.pipeline.config import PipelineConfig
from kgplatform.predictions import Prediction, select_predictions
from kgplatform.progress import ProgressFn
from kgplatform.settings import Settings
from kgplatform.snapshot import SPLIT_NONE, SPLIT_TEST, SPLIT_TRAIN, SPLIT_VALID, Snapshot
from kgplatform.text.embeddings import encode_texts, encoding_estimate

HIST_BINS = 100  # write-time candidate probabilities are summarized in 0.01-wide bins (see score_candidates)


# ---- stages ---------------------------------------------------------------------------------------------------

def prepare_splits(snapshot: Snapshot, cfg: PipelineConfig) -> Snapshot:
    """Held-out edges for early stopping and calibration.

    Edges the store marks valid/test keep their split. Without any validation edge (a catalog, or a dataset with
    only a train file), a seeded per-relation share of the asserted edges is held out.
    """

    if not bool((snapshot.edge_split == SPLIT_VALID).any()):
        snapshot = replace(snapshot, edge_split=torch.full_like(snapshot.edge_split, SPLIT_NONE))
    if bool((snapshot.edge_split == SPLIT_NONE).any()):
        return assign_splits(snapshot, cfg.valid_ratio, cfg.test_ratio, cfg.train.seed)
    return snapshot


def featurize(snapshot: Snapshot, settings: Settings, cfg: TrainConfig, progress: ProgressFn | None = None,
              stats: dict | None = None, encoder: str = "", device: torch.device = CPU) -> torch.Tensor | None:
    """Node text vectors from ``encoder`` (empty: KGP_EMBED_MODEL), encoded on ``device``, returned on the CPU;
    None for a graph-only model, and when encoding would overrun ``cfg.text_budget_s`` (``stats["text_off"]``
    then says why)."""
    if not cfg.use_text:
        return None
    model = encoder or settings.embed_model
    stats = stats if stats is not None else {}
    if cfg.text_budget_s is not None:
        estimate = encoding_estimate(snapshot.node_text, model, settings.cache_dir,
                                     batch_size=settings.embed_batch_size, device=device)
        stats["estimate"] = estimate
        if estimate["estimated_s"] > cfg.text_budget_s:
            if not cfg.learned_embeddings:
                raise KgpError(f"text_budget_s={cfg.text_budget_s:g}: encoding {estimate['uncached']:,} texts would "
                               f"take about {estimate['estimated_s']:,.0f} s, and a model without learned "
                               "embeddings needs its text; raise the budget or set learned_embeddings")
            stats["text_off"] = (f"encoding {estimate['uncached']:,} uncached texts at {estimate['texts_per_s']:,} "
                                 f"texts/s on {device} would take about {estimate['estimated_s']:,.0f} s, over the "
                                 f"text budget of {cfg.text_budget_s:,.0f} s: graph-only")
            return None
    return encode_texts(snapshot.node_text, model, settings.cache_dir,
                        batch_size=settings.embed_batch_size, progress=progress, stats=stats, device=device)


def train_and_evaluate(snapshot: Snapshot, text_x: torch.Tensor | None, cfg: TrainConfig,
                       progress: ProgressFn | None = None, device: torch.device = CPU):
    """Train on the train split on ``device``, early-stop on valid; returns (train result, test metrics). The
    result's model stays on ``device``."""

    result = train_link_predictor(snapshot, text_x, cfg, progress=progress, device=device)
    has_test = bool((snapshot.edge_split == SPLIT_TEST).any())
    test = rank_metrics(result.model, snapshot, SPLIT_TEST, type_constrained=cfg.type_constrained,
                        batch_size=cfg.eval_batch_size, max_triples=cfg.test_max_triples) if has_test else {}
    return result, test


def candidate_search(cfg: PipelineConfig) -> CandidateSearch:
    """The run's candidate search, one per scoring pass (it keeps the tail indexes it builds)."""
    return CandidateSearch(cfg.candidate_search, cfg.ann_min_tails, cfg.ann_overfetch, cfg.ann_effort, cfg.ann_index)


def search_report(search: CandidateSearch, snapshot: Snapshot) -> dict:
    """The mode each relation's candidates were found with, by relation name, for the run's metrics."""
    return {snapshot.rel_names[rel]: mode for rel, mode in sorted(search.used.items())}


def held_out_known_splits(snapshot: Snapshot) -> tuple[int, ...]:
    """The splits known while validation candidates are drawn: all but validation (learn/calibrate.py's symmetric
    protocol), so the validation edges are exactly what is left to find, as the test edges are on test."""
    has_test = bool((snapshot.edge_split == SPLIT_TEST).any())
    return (SPLIT_TRAIN, SPLIT_TEST) if has_test else (SPLIT_TRAIN,)


def known_rows(snapshot: Snapshot, splits: tuple[int, ...] | None) -> torch.Tensor:
    rows = snapshot.triples()
    if splits is None:
        return rows
    return rows[torch.isin(snapshot.edge_split, torch.tensor(splits, dtype=torch.long))]


def evidence_context(model, snapshot: Snapshot, mentions: torch.Tensor | None = None) -> FeatureContext:
    """What the combined-evidence features read (learn/selector.py): the train edges, in every setting.

    Validation candidates, test candidates and write-time candidates then see the same graph features for the
    same pair. With the other splits' edges counted too, a category's in-degree differed by a few edges between
    validation and test; trees that had learnt categories by their exact degree sent amazon-beauty-2014's
    "Skin Care" to the wrong leaf on test (861 edges written at precision 0.39 against 285 at 0.88 on validation).
    """
    pairs = mention_pairs(snapshot.node_text) if mentions is None else mentions
    return feature_context(known_rows(snapshot, (SPLIT_TRAIN,)), snapshot.num_nodes, snapshot.num_relations, pairs,
                           getattr(model, "text_x", None))


def calibrate(model, snapshot: Snapshot, cfg: PipelineConfig):
    """Fit probabilities per relation on validation candidates; thresholds reach the target precision there.

    Candidates are the top-k tails of each (head, relation) that has a held-out validation edge, scored with node
    states from train edges; every other split's edges are known (blocked), and a candidate is positive when it is
    a validation edge: the same question the test split answers, so thresholds carry over (on
    amazon-beauty-2014, counting test edges as positives too made validation 21 % positive against 13 % on test,
    and the edges written at validation precision 0.9 were 0.867 precise on test). A probability reads "chance
    this is right, given that the head misses a link of this type".
    With ``cfg.combine_evidence`` the calibrators read the out-of-fold logit of gradient-boosted trees over the
    score and the graph's and text's evidence (learn/selector.py) instead of the raw score.
    Returns (calibration, report, points): points has each candidate's probability, label and group name.
    """

    with torch.no_grad():
        z = encode_all(model, *train_edges(snapshot))
    known = held_out_known_splits(snapshot)
    search = candidate_search(cfg)
    queries = sample_triples(torch.unique(snapshot.triples(SPLIT_VALID)[:, :2], dim=0), cfg.calibration_max_queries,
                             cfg.train.seed)
    cands, labels = held_out_candidates(model, z, snapshot, k=cfg.top_k, known_splits=known, queries=queries,
                                        type_constrained=cfg.train.type_constrained, search=search)
    has_edge = heads_with_edge(known_rows(snapshot, known), snapshot.num_nodes, snapshot.num_relations)
    groups = group_ids(cands.rels, has_edge[cands.rels, cands.heads])
    combiner, values = None, cands.scores
    if cfg.combine_evidence:
        features = candidate_features(cands, evidence_context(model, snapshot))
        combiner, values = fit_combiner(features, labels, cands.rels, cands.heads, snapshot.num_relations,
                                        seed=cfg.train.seed)
    calibration, report = fit_relation_calibration(values, labels, groups, method=cfg.calibration,
                                                   target_precision=cfg.target_precision,
                                                   confidence=cfg.precision_confidence,
                                                   pooled=cfg.threshold_scope == "pooled")
    calibration.combiner = combiner
    report["per_group"] = {group_name(g, snapshot.rel_names): v for g, v in report["per_group"].items()}
    report["target_precision"] = cfg.target_precision
    report["precision_confidence"] = cfg.precision_confidence
    report["known_splits"] = list(known)
    report["candidate_search"] = search_report(search, snapshot)
    report["combined_evidence"] = list(FEATURES) if combiner is not None else None
    # per-candidate data for the run report's reliability and precision-threshold plots
    probs = np.empty(len(values))
    for group in np.unique(groups).tolist():
        probs[groups == group] = calibration.predict(group, values[groups == group])
    points = {"probability": probs, "label": np.asarray(labels, dtype=np.int8),
              "group": np.array([group_name(g, snapshot.rel_names) for g in groups.tolist()], dtype=str)}
    return calibration, report, points


def node_states(model, snapshot: Snapshot) -> torch.Tensor:
    """Encoder output over every known fact (all splits): at write time the whole graph is evidence. Computed on
    the model's device, returned on the CPU (it is saved)."""
    with torch.no_grad():
        return encode_all(model, snapshot.edge_index, snapshot.edge_type).cpu()


def score_candidates(model, z: torch.Tensor, snapshot: Snapshot, calibration, cfg: PipelineConfig, *,
                     shard: int = 0, num_shards: int = 1, heads: torch.Tensor | None = None,
                     progress: ProgressFn | None = None, arrivals=None,
                     context: FeatureContext | None = None,
                     search: CandidateSearch | None = None) -> tuple[list[Prediction], dict]:
    """Top-k type-valid candidates per head of this shard, calibrated; keep those at or above the threshold.

    z comes from node_states. Shards split the candidate heads; select_predictions merges them. heads: only these
    nodes are scored as heads (the incremental job's changed nodes); default every node of a relation's domain.
    arrivals: the calibration of simulated new products (pipeline/arrivals.py), for heads without a learned
    embedding (added after training); None: they use ``calibration`` like every other head.
    context: evidence_context(model, snapshot) when the caller keeps one (the realtime path grows its own); None
    builds it here if a combiner needs it.
    search: candidate_search(cfg) when the caller wants to read which mode each relation got; None makes one.
    Returns (selected, histogram): histogram summarizes every candidate's probability per calibration group
    ({group name: {relation, threshold, candidates, at_threshold, counts}}; see probability_histogram), so the
    run report can show how many edges each threshold would write.
    """

    targets = cfg.target_rel_types or snapshot.rel_names
    z = z.to(getattr(model, "device", z.device))  # saved states are on the CPU; scoring runs where the model is
    has_edge = heads_with_edge(snapshot.triples(), snapshot.num_nodes, snapshot.num_relations)
    combined = calibration.combiner is not None or (arrivals is not None and arrivals.combiner is not None)
    if context is None and combined:
        context = evidence_context(model, snapshot)
    is_new = ~model.has_embedding.cpu().numpy() if arrivals is not None else np.zeros(snapshot.num_nodes, dtype=bool)
    search = search if search is not None else candidate_search(cfg)
    selected, histogram = [], {}
    for i, rel_type in enumerate(targets):
        rel = snapshot.rel_names.index(rel_type)
        rel_heads = shard_heads(domain_heads(snapshot, rel), shard, num_shards)
        if heads is not None:
            rel_heads = rel_heads[torch.isin(rel_heads, heads)]
        cands = query_candidates(model, z, snapshot, rel, rel_heads, k=cfg.top_k,
                                 type_constrained=cfg.train.type_constrained, search=search)
        probs = np.zeros(len(cands))
        keep = np.zeros(len(cands), dtype=bool)
        new_heads = is_new[cands.heads]
        for label, which, mask in (("", calibration, ~new_heads), ("new product: ", arrivals, new_heads)):
            if not mask.any():
                continue
            part = cands.subset(mask)
            values = which.values(part, context)
            groups = group_ids(np.full(len(part), rel), has_edge[rel, part.heads])
            part_probs, part_keep = np.zeros(len(part)), np.zeros(len(part), dtype=bool)
            for group in np.unique(groups).tolist():
                m = groups == group
                threshold = which.threshold(group)
                part_probs[m] = which.predict(group, values[m])
                if threshold is not None:  # None: this group cannot reach the target precision on validation
                    part_keep[m] = part_probs[m] >= threshold
                histogram[label + group_name(group, snapshot.rel_names)] = {
                    "relation": rel_type, "threshold": threshold, "candidates": int(m.sum()),
                    "at_threshold": int(part_keep[m].sum()), "counts": probability_histogram(part_probs[m])}
            probs[mask], keep[mask] = part_probs, part_keep
        for h, t, s, p in zip(cands.heads[keep].tolist(), cands.tails[keep].tolist(),
                              cands.scores[keep].astype(np.float32).tolist(), probs[keep].tolist()):
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


