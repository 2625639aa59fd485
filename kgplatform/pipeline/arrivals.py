"""The write decision for products added after training: calibrated on held-out arrivals (learn/newheads.py).

A pure stage beside stages.calibrate: the same candidates, features, combiner and thresholds, fitted on the
candidates of heads held out of training (learned embedding off, one train edge revealed, every other edge
hidden and to be found). score_candidates uses it for heads without a learned embedding, which is what the
incremental job and `kgp watch` score.
"""

from __future__ import annotations

import numpy as np
import torch

from kgplatform.learn.calibrate import held_out_candidates
from kgplatform.learn.candidates import domain_heads, heads_with_edge
from kgplatform.learn.index import train_edges
from kgplatform.learn.mentions import mention_pairs
from kgplatform.learn.minibatch import encode_all
from kgplatform.learn.newheads import ArrivalHoldout, draw_arrivals, simulate_arrivals
from kgplatform.learn.per_relation import RelationCalibration, fit_relation_calibration, group_ids, group_name
from kgplatform.learn.selector import candidate_features, feature_context, fit_combiner
from kgplatform.pipeline.config import PipelineConfig
from kgplatform.pipeline.stages import candidate_search, search_report
from kgplatform.snapshot import SPLIT_TRAIN, SPLIT_VALID, Snapshot

# The held-out arrivals are a few hundred heads at most, so the thresholds rest on small top sets: their
# precision must clear the target at this confidence at least, whatever the run's precision_confidence.
ARRIVALS_CONFIDENCE = 0.75


def hold_out_arrivals(snapshot: Snapshot, cfg: PipelineConfig) -> ArrivalHoldout | None:
    """The heads a run holds out of training to calibrate new products on; None without combined evidence or
    when the graph gives fewer than cfg.arrival_min_heads."""
    if not cfg.combine_evidence:
        return None
    return draw_arrivals(snapshot, cfg.train.seed, cfg.arrival_holdout_share, cfg.arrival_min_heads)


def calibrate_arrivals(model, snapshot: Snapshot, cfg: PipelineConfig,
                       holdout: ArrivalHoldout | None) -> tuple[RelationCalibration | None, dict]:
    """(calibration for new products or None, report). None without combined evidence or held-out heads; new
    products then get the main calibration, whose 'head has none' groups rarely write."""
    if not cfg.combine_evidence or holdout is None:
        return None, {"enabled": False}
    sim = simulate_arrivals(model, snapshot, holdout)
    view = sim.view
    targets = [r for r in (cfg.target_rel_types or snapshot.rel_names) if r in snapshot.rel_names]
    queries = []
    for rel_type in targets:
        rel = snapshot.rel_names.index(rel_type)
        heads = sim.heads[torch.isin(sim.heads, domain_heads(view, rel))]
        queries.append(torch.stack([heads, torch.full_like(heads, rel)], dim=1))
    with torch.no_grad():
        z = encode_all(sim.model, *train_edges(view))  # every edge but the hidden ones, as at write time
    search = candidate_search(cfg)  # as score_candidates finds the new products' candidates
    cands, labels = held_out_candidates(sim.model, z, view, k=cfg.top_k, split=SPLIT_VALID,
                                        known_splits=(SPLIT_TRAIN,), queries=torch.cat(queries),
                                        type_constrained=cfg.train.type_constrained, search=search)
    report = {"enabled": True, "heads": len(sim.heads), "hidden_edges": int(holdout.hidden.sum()),
              "positives_per_head": float(np.sum(labels) / max(len(sim.heads), 1)),
              "candidate_search": search_report(search, snapshot)}
    if len(labels) == 0:
        return None, report | {"candidates": 0}
    has_edge = heads_with_edge(view.triples(SPLIT_TRAIN), snapshot.num_nodes, snapshot.num_relations)
    groups = group_ids(cands.rels, has_edge[cands.rels, cands.heads])
    context = feature_context(sim.feature_rows, snapshot.num_nodes, snapshot.num_relations,
                              mention_pairs(snapshot.node_text), getattr(model, "text_x", None))
    combiner, values = fit_combiner(candidate_features(cands, context), labels, cands.rels, cands.heads,
                                    snapshot.num_relations, seed=cfg.train.seed)
    calibration, fitted = fit_relation_calibration(values, labels, groups, method=cfg.calibration,
                                                   target_precision=cfg.target_precision,
                                                   confidence=max(cfg.precision_confidence or 0.0, ARRIVALS_CONFIDENCE),
                                                   pooled=cfg.threshold_scope == "pooled")
    calibration.combiner = combiner
    fitted["per_group"] = {group_name(g, snapshot.rel_names): v for g, v in fitted["per_group"].items()}
    return calibration, fitted | report
