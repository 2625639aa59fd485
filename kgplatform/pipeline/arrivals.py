"""The write decision for products added after training: calibrated on simulated arrivals (learn/newheads.py).

A pure stage beside stages.calibrate: the same candidates, features, combiner and thresholds, fitted on the
candidates of heads pretended new (learned embedding off, one train edge revealed, every other edge hidden and to
be found). score_candidates uses it for heads without a learned embedding, which is what the incremental job and
`kgp watch` score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from kgplatform.learn.calibrate import held_out_candidates
from kgplatform.learn.candidates import domain_heads, heads_with_edge
from kgplatform.learn.index import train_edges
from kgplatform.learn.mentions import mention_pairs
from kgplatform.learn.newheads import simulate_arrivals
from kgplatform.learn.per_relation import RelationCalibration, fit_relation_calibration, group_ids, group_name
from kgplatform.learn.selector import QueryCandidates, candidate_features, feature_context, fit_combiner
from kgplatform.pipeline.config import PipelineConfig
from kgplatform.snapshot import SPLIT_TRAIN, SPLIT_VALID, Snapshot

# The simulated arrivals are a few hundred heads, so each relation's threshold rests on a small top set: its
# precision must clear the target at this confidence at least, whatever the run's precision_confidence (at 0.5,
# 100 new magazine products got 15 edges at test precision 0.867).
ARRIVALS_CONFIDENCE = 0.75
# Thresholds stay per group, on one round of simulated heads. Simulated arrivals are easier than real ones: the
# model trained on their hidden edges, so their candidates look surer than a new product's. More evidence from
# them made that worse, not better: with 2 rounds (792 heads) 100 new magazine products got 27 edges at precision
# 0.778 under a pooled threshold and 7 at 0.571 per group (0.910 on the simulated heads); one round writes none.
# Honest evidence needs heads the model never trained on (docs/realtime.md).
ARRIVAL_ROUNDS = 1


@dataclass
class ArrivalRound:
    """The labelled candidates of one round of simulated arrivals, with their groups and features."""

    cands: QueryCandidates
    labels: np.ndarray
    groups: np.ndarray
    features: np.ndarray
    heads: int


def _round(model, snapshot: Snapshot, cfg: PipelineConfig, round_index: int,
           mentions: torch.Tensor) -> ArrivalRound | None:
    """One round of simulated arrivals (learn/newheads.py), or None when no heads are left for it."""
    sim = simulate_arrivals(model, snapshot, seed=cfg.train.seed, round_index=round_index)
    if sim is None:
        return None
    view = sim.view
    targets = [r for r in (cfg.target_rel_types or snapshot.rel_names) if r in snapshot.rel_names]
    queries = []
    for rel_type in targets:
        rel = snapshot.rel_names.index(rel_type)
        heads = sim.heads[torch.isin(sim.heads, domain_heads(view, rel))]
        queries.append(torch.stack([heads, torch.full_like(heads, rel)], dim=1))
    with torch.no_grad():
        z = sim.model.encode(*train_edges(view))  # every edge but the hidden ones, as at write time
    cands, labels = held_out_candidates(sim.model, z, view, k=cfg.top_k, split=SPLIT_VALID,
                                        known_splits=(SPLIT_TRAIN,), queries=torch.cat(queries),
                                        type_constrained=cfg.train.type_constrained)
    has_edge = heads_with_edge(view.triples(SPLIT_TRAIN), snapshot.num_nodes, snapshot.num_relations)
    groups = group_ids(cands.rels, has_edge[cands.rels, cands.heads])
    context = feature_context(sim.feature_rows, snapshot.num_nodes, snapshot.num_relations, mentions,
                              getattr(model, "text_x", None))
    return ArrivalRound(cands, labels, groups, candidate_features(cands, context), len(sim.heads))


def calibrate_arrivals(model, snapshot: Snapshot, cfg: PipelineConfig,
                       rounds: int = ARRIVAL_ROUNDS) -> tuple[RelationCalibration | None, dict]:
    """(calibration for new products or None, report). None without combined evidence, or without heads to
    simulate; new products then get the main calibration, whose 'head has none' groups rarely write."""
    if not cfg.combine_evidence:
        return None, {"enabled": False}
    mentions = mention_pairs(snapshot.node_text)
    parts = []
    for round_index in range(rounds):
        part = _round(model, snapshot, cfg, round_index, mentions)
        if part is None:
            break
        parts.append(part)
    heads = sum(p.heads for p in parts)
    if sum(len(p.labels) for p in parts) == 0:
        return None, {"enabled": True, "heads": heads, "candidates": 0}
    cands = QueryCandidates.concat([p.cands for p in parts])
    labels, groups, features = (np.concatenate([getattr(p, name) for p in parts])
                                for name in ("labels", "groups", "features"))
    combiner, values = fit_combiner(features, labels, cands.rels, cands.heads, snapshot.num_relations,
                                    seed=cfg.train.seed)
    calibration, report = fit_relation_calibration(values, labels, groups, method=cfg.calibration,
                                                   target_precision=cfg.target_precision,
                                                   confidence=max(cfg.precision_confidence or 0.0, ARRIVALS_CONFIDENCE))
    calibration.combiner = combiner
    report["per_group"] = {group_name(g, snapshot.rel_names): v for g, v in report["per_group"].items()}
    report |= {"enabled": True, "heads": heads, "rounds": len(parts),
               "positives_per_head": float(np.sum(labels) / max(heads, 1))}
    return calibration, report
