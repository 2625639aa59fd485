"""Text-proposed edges for the pipeline: brands and categories named in a head's text, checked by the model.

The rule (a pure stage, like pipeline/stages.py; pipeline/steps.py does the I/O):

1. **Proposals.** For each target relation, text.linking.relation_matcher builds one Aho-Corasick matcher over
   the names of the relation's range nodes (shared and unreliable names resolved with the known edges), and
   text.linking.propose_text_links proposes (head, tail) for every tail named in a head's text. Proposals that
   are known edges or already predicted (snapshot.excluded) are dropped.
2. **Calibration on validation** (``fit_text_calibration``), as pipeline.stages.calibrate does for the model's
   candidates: train edges are known (node states from train edges, matcher resolved with train edges), the
   proposals are made for the heads that have a held-out validation edge of the relation, each is scored by the
   link predictor (its raw score for that tail), and it is positive when it is a held-out (valid or test) edge.
   learn.per_relation.fit_relation_calibration then fits a calibrator and threshold per group (relation, head
   already has an edge of it), with the run's target precision, precision_confidence rule and
   TEXT_MIN_CANDIDATES / MIN_POSITIVES: a relation without enough validation proposals gets no threshold, and no text
   edge of it is written.
3. **Write time** (``score_text_links``): proposals over the relation's domain heads of this score shard, every
   known edge (all splits) dropped, scored with the node states over all edges, and kept when the calibrated
   probability reaches the group's threshold. Rows have write_predictions' shape with method='text' and the
   mention (span and offsets in the head's text) as evidence.
4. **Merge** (``merge_text_and_model``): one row per (head, rel_type, tail). An edge both the model and the
   text select keeps the model's score and probability and gets method 'text+gnn' and the mention; the mention
   is kept in ``mention`` so that pipeline.steps.explain_step puts it in front of the explanation it writes.

A graph without usable names (or with text_links off) proposes nothing: no calibration, no text edges.
"""

from __future__ import annotations

import numpy as np
import torch

from kgplatform.learn.candidates import domain_heads, heads_with_edge, shard_heads
from kgplatform.learn.index import train_edges
from kgplatform.learn.minibatch import encode_all
from kgplatform.learn.per_relation import fit_relation_calibration, group_ids, group_name
from kgplatform.pipeline.config import PipelineConfig
from kgplatform.predictions import Prediction, select_predictions
from kgplatform.snapshot import SPLIT_TRAIN, SPLIT_VALID, Snapshot
from kgplatform.text import linking as el

METHOD_TEXT, METHOD_BOTH = "text", "text+gnn"
# Mentions are fewer than top-k candidates (one per named tail, not k per head), so a relation's validation
# proposals are often below per_relation.MIN_CANDIDATES; the confidence bound on precision is what guards a small
# group (43 right of 43 bounds precision at 0.968 with confidence 0.75), so text needs fewer.
TEXT_MIN_CANDIDATES = 20
# Text proposals are judged on the raw model score, without the combined evidence whose held-out precision set the
# run's default confidence (0.5): they keep the stricter bound they were measured with (bench/results/entities.md).
TEXT_CONFIDENCE = 0.75


def target_relations(snapshot: Snapshot, cfg: PipelineConfig) -> list[str]:
    return [r for r in (cfg.target_rel_types or snapshot.rel_names) if r in snapshot.rel_names]


def model_scores(model, z: torch.Tensor, snapshot: Snapshot, rows: list[dict]) -> np.ndarray:
    """The link predictor's raw score of each proposal row {head, rel, tail} (node indices)."""
    if not rows:
        return np.empty(0)
    heads = torch.tensor([r["head"] for r in rows], dtype=torch.long)
    rels = torch.tensor([snapshot.rel_names.index(r["rel"]) for r in rows], dtype=torch.long)
    tails = torch.tensor([r["tail"] for r in rows], dtype=torch.long).unsqueeze(1)
    z = z.to(getattr(model, "device", z.device))  # node states are saved on the CPU
    with torch.no_grad():
        return model.score_tails(z, heads, rels, tails).squeeze(1).double().cpu().numpy()


def row_groups(snapshot: Snapshot, rows: list[dict], has_edge: np.ndarray) -> np.ndarray:
    """Calibration group of each row: learn.per_relation.group_ids (relation, head already has an edge of it)."""

    rels = np.array([snapshot.rel_names.index(r["rel"]) for r in rows], dtype=np.int64)
    heads = np.array([r["head"] for r in rows], dtype=np.int64)
    return group_ids(rels, has_edge[rels, heads])


def fit_text_calibration(model, snapshot: Snapshot, cfg: PipelineConfig):
    """Calibration and thresholds of text proposals on the validation split (see the module docstring).

    Returns (calibration or None when there is no proposal at all, report): the report has the summary and
    per-group figures of fit_relation_calibration, and per relation the matcher's names, the proposals
    (candidates), the right ones (positives) and the threshold of each head bucket.
    """

    report: dict = {"enabled": cfg.text_links, "per_relation": {}}
    if not cfg.text_links:
        return None, report
    train = el.known_rows(snapshot, (SPLIT_TRAIN,))
    held_out = {tuple(r) for r in snapshot.triples()[snapshot.edge_split != SPLIT_TRAIN].tolist()}
    valid = snapshot.triples(SPLIT_VALID)
    rows: list[dict] = []
    for rel_type in target_relations(snapshot, cfg):
        rel = snapshot.rel_names.index(rel_type)
        heads = torch.unique(valid[valid[:, 1] == rel, 0])
        if not len(heads):
            continue
        matcher = el.relation_matcher(snapshot, rel_type, train)
        proposed = el.drop_known(el.propose_text_links(snapshot, rel_type, matcher, heads), snapshot, train)
        report["per_relation"][rel_type] = {"names": len(matcher.names), "dropped_names": matcher.dropped,
                                            "candidates": len(proposed), "positives": 0, "thresholds": {}}
        rows += proposed
    if not rows:
        return None, report
    with torch.no_grad():
        z = encode_all(model, *train_edges(snapshot))
    scores = model_scores(model, z, snapshot, rows)
    labels = np.array([(r["head"], snapshot.rel_names.index(r["rel"]), r["tail"]) in held_out for r in rows],
                      dtype=np.int64)
    groups = row_groups(snapshot, rows, heads_with_edge(train, snapshot.num_nodes, snapshot.num_relations))
    calibration, fitted = fit_relation_calibration(scores, labels, groups, method=cfg.calibration,
                                                   target_precision=cfg.target_precision,
                                                   confidence=max(cfg.precision_confidence or 0.0, TEXT_CONFIDENCE),
                                                   min_candidates=TEXT_MIN_CANDIDATES)
    for row, label in zip(rows, labels.tolist()):
        report["per_relation"][row["rel"]]["positives"] += label
    for group, figures in fitted["per_group"].items():
        rel_type, bucket = group_name(group, snapshot.rel_names).split("|")
        report["per_relation"][rel_type]["thresholds"][bucket] = figures["threshold"]
    report["summary"] = fitted["summary"]
    report["per_group"] = {group_name(g, snapshot.rel_names): v for g, v in fitted["per_group"].items()}
    return calibration, report


def score_text_links(model, z: torch.Tensor, snapshot: Snapshot, text_calibration, cfg: PipelineConfig, *,
                     shard: int = 0, num_shards: int = 1, heads: torch.Tensor | None = None,
                     matchers: dict | None = None) -> list[Prediction]:
    """Text proposals of this shard's heads that reach their group's threshold, as write_predictions rows
    {head, rel_type, tail, score, probability, method='text', evidence, mention} (domain ids), most probable
    first. z: pipeline.node_states (all edges). heads: only these nodes (as pipeline.score_candidates).
    matchers: a dict kept by the caller between calls (relation -> matcher), so a long-lived scorer (the
    incremental job) builds each matcher once."""
    if text_calibration is None or not cfg.text_links:
        return []
    known = snapshot.triples()
    has_edge = heads_with_edge(known, snapshot.num_nodes, snapshot.num_relations)
    out = []
    for rel_type in target_relations(snapshot, cfg):
        rel = snapshot.rel_names.index(rel_type)
        if all(text_calibration.threshold(g) is None for g in group_ids(np.full(2, rel), np.arange(2))):
            continue  # no threshold for this relation: nothing to write, skip the matcher
        rel_heads = shard_heads(domain_heads(snapshot, rel), shard, num_shards)
        if heads is not None:
            rel_heads = rel_heads[torch.isin(rel_heads, heads)]
        if not len(rel_heads):
            continue
        matcher = matchers.get(rel_type) if matchers is not None else None
        if matcher is None:
            matcher = el.relation_matcher(snapshot, rel_type, known)
            if matchers is not None:
                matchers[rel_type] = matcher
        rows = el.drop_known(el.propose_text_links(snapshot, rel_type, matcher, rel_heads), snapshot, known)
        if not rows:
            continue
        scores = model_scores(model, z, snapshot, rows)
        groups = row_groups(snapshot, rows, has_edge)
        for group in np.unique(groups).tolist():
            threshold = text_calibration.threshold(group)
            if threshold is None:
                continue
            m = groups == group
            probs = text_calibration.predict(group, scores[m])
            for row, s, p in zip((r for r, k in zip(rows, m) if k), scores[m].tolist(), probs.tolist()):
                if p >= threshold:
                    mention = el.evidence_of(row)
                    out.append({"head": snapshot.node_ids[row["head"]], "rel_type": rel_type,
                                "tail": snapshot.node_ids[row["tail"]], "score": float(s), "probability": float(p),
                                "method": METHOD_TEXT, "evidence": mention, "mention": mention})
    return select_predictions([out], len(out))


def merge_text_and_model(model_rows: list[Prediction], text_rows: list[Prediction],
                         max_edges: int | None = None) -> list[Prediction]:
    """One row per (head, rel_type, tail), most probable first (select_predictions' order), capped at max_edges.

    An edge in both keeps the model row's score and probability, with method 'text+gnn' and the text row's
    ``mention`` (explain_step writes it in front of the evidence). Model-only rows are left as they are (their
    method is write-back's default); text-only rows keep method 'text'.
    """
    merged = {(p["head"], p["rel_type"], p["tail"]): dict(p) for p in model_rows}
    for t in text_rows:
        key = (t["head"], t["rel_type"], t["tail"])
        if key in merged:
            merged[key].update(method=METHOD_BOTH, mention=t.get("mention") or t.get("evidence", ""))
        else:
            merged[key] = dict(t)
    rows = list(merged.values())
    return select_predictions([rows], len(rows) if max_edges is None else max_edges)


def method_counts(predictions: list[Prediction]) -> dict:
    """The run's counts by provenance: edges per method (rows without one get write-back's default, 'text+gnn'),
    and how many of the 'text+gnn' ones the text named too (model and text agree)."""
    per_method: dict[str, int] = {}
    for p in predictions:
        per_method[p.get("method", METHOD_BOTH)] = per_method.get(p.get("method", METHOD_BOTH), 0) + 1
    return {"written_per_method": dict(sorted(per_method.items())),
            "text_and_model_agree": sum(p.get("method") == METHOD_BOTH and "mention" in p for p in predictions)}
