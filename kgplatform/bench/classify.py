"""Write-back decisions measured on held-out test data, for `kgp bench linkpred`.

Two questions, both answered on the test split with everything chosen on validation:

- **Triple classification** (the CoDEx protocol): is (h, r, t) true? Positives are the test triples, negatives the
  verified false triples of ``negatives_test.tsv``. A triple is called true when its score reaches a threshold
  chosen per relation on the validation positives + ``negatives_valid.tsv`` (the one that maximises validation
  accuracy); a relation without validation examples uses the global threshold (chosen the same way on all of
  validation).
- **Calibration and selection of written edges**: the candidates the pipeline would propose for each test
  (head, relation) -- its top-k tails, train and valid edges blocked -- get the probabilities of the
  validation-fitted calibration (pipeline.calibrate, with the pipeline's default PipelineConfig: top-k, target
  precision, confidence); their expected calibration error and the precision of the ones at or above each group's
  validation threshold say whether the written probabilities and the 0.9-precision rule hold on data the
  calibration never saw.

The metric functions are pure (scores in, metrics out); ``read_negatives`` is the only I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from kgplatform.errors import InputError, SchemaError
from kgplatform.graph.names import rel_type_from_text
from kgplatform.ingest.tsv import read_triple_lines
from kgplatform.learn.calibrate import expected_calibration_error, held_out_candidates
from kgplatform.learn.candidates import heads_with_edge
from kgplatform.learn.per_relation import group_ids, group_name, relation_of
from kgplatform.pipeline.stages import evidence_context, known_rows
from kgplatform.snapshot import SPLIT_TEST, SPLIT_TRAIN, SPLIT_VALID, Snapshot

NEGATIVE_FILES = {"valid": "negatives_valid.tsv", "test": "negatives_test.tsv"}
PUBLISHED_ACCURACY = {"codex-s": {"ComplEx": 0.814, "RESCAL": 0.805}}  # CoDEx paper, triple classification
TARGETS = {"accuracy": 0.82, "ece": 0.05, "precision": 0.9}  # what the bench reports as met / not met
SCORE_PROTOCOL = ("score(h, r, t) = mean of the model's score of (h, r, t) and of its reciprocal query (t, r + R, h): "
                  "the model is trained on both directions, so neither alone is its whole judgement; node states "
                  "come from train edges only")


# ---- reading the negatives (the only I/O) ----------------------------------------------------------------------

def read_negatives(path: Path, snapshot: Snapshot, relation_types: dict[str, str] | None = None) -> Tensor:
    """(head, rel, tail) index rows [n, 3] of a negatives_*.tsv file, mapped through the snapshot's ids.

    Relation ids become the relationship types ingest gave them: ``relation_types`` (relation id -> type, from the
    store's name registry), else names.rel_type_from_text ('P27' -> 'P27', '_hypernym' -> 'HYPERNYM').
    Negatives are evaluation data: they are never written to the store. Every malformed row, unknown entity or
    unknown relation is reported as 'file:line: problem' in one InputError.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such negatives file")
    node_index = {node_id: i for i, node_id in enumerate(snapshot.node_ids)}
    rel_index = {name: i for i, name in enumerate(snapshot.rel_names)}
    problems: list[str] = []
    rows: list[tuple[int, int, int]] = []
    for number, head, relation, tail in read_triple_lines(path, problems):
        try:
            rel_type = (relation_types or {}).get(relation) or rel_type_from_text(relation)
        except SchemaError as exc:
            problems.append(f"{path}:{number}: {exc}")
            continue
        if rel_type not in rel_index:
            problems.append(f"{path}:{number}: unknown relation {relation[:80]!r} (no {rel_type} edges in the graph)")
            continue
        missing = [x for x in (head, tail) if x not in node_index]
        if missing:
            problems.append(f"{path}:{number}: unknown entity {missing[0][:80]!r} (not a node of the graph)")
            continue
        rows.append((node_index[head], rel_index[rel_type], node_index[tail]))
    if problems:
        raise InputError(f"{path}: {len(problems)} problem(s)", problems)
    return torch.tensor(rows, dtype=torch.long).view(-1, 3)


# ---- scores -----------------------------------------------------------------------------------------------------

@torch.no_grad()
def reciprocal_scores(model, z: Tensor, triples: Tensor, num_relations: int, batch_size: int = 4096) -> Tensor:
    """Score [n] of each (h, r, t) row (r < R): mean of score(h, r, t) and score(t, r + R, h). See SCORE_PROTOCOL."""
    out = []
    for chunk in triples.split(batch_size):
        h, r, t = chunk.unbind(1)
        out.append((model.score_triples(z, h, r, t) + model.score_triples(z, t, r + num_relations, h)) / 2)
    return torch.cat(out).double() if out else torch.empty(0, dtype=torch.double)


# ---- thresholds (pure) ------------------------------------------------------------------------------------------

def best_threshold(scores, labels, prefer: float | None = None) -> tuple[float, float]:
    """(threshold, accuracy): the cut that maximises accuracy of 'true iff score >= threshold' on these examples.

    Candidate cuts lie midway between consecutive distinct scores, plus -inf (all true) and +inf (all false).
    ``prefer`` (e.g. the global threshold, for one relation's examples): kept as it is when no cut is strictly
    more accurate, else ties go to the best cut nearest to it. Without ``prefer`` ties go to the middle best cut.
    """
    s, y = np.asarray(scores, dtype=float).ravel(), np.asarray(labels).astype(bool).ravel()
    if len(s) == 0:
        raise ValueError("best_threshold: no examples")
    order = np.argsort(s, kind="stable")
    s, y = s[order], y[order]
    # cut i (0..n): examples i.. are called true; correct = negatives before i + positives from i on
    correct = np.r_[0, np.cumsum(~y)] + (y.sum() - np.r_[0, np.cumsum(y)])
    cuttable = np.r_[True, s[1:] > s[:-1], True]  # never between equal scores
    cuts = np.r_[-np.inf, (s[:-1] + s[1:]) / 2, np.inf]
    correct = np.where(cuttable, correct, -1)
    best = int(correct.max())
    if prefer is not None and int(((s >= prefer) == y).sum()) >= best:
        return float(prefer), best / len(s)
    tied = cuts[correct == best]
    if prefer is None:
        pick = tied[len(tied) // 2]
    else:
        pick = tied[int(np.argmin(np.abs(tied - prefer)))]
    return float(pick), best / len(s)


@dataclass
class Thresholds:
    """Decision thresholds: one per relation seen in validation, the global one for the others."""

    global_threshold: float
    per_relation: dict[int, float] = field(default_factory=dict)

    def for_relations(self, relations) -> np.ndarray:
        rel = np.asarray(relations, dtype=np.int64).ravel()
        return np.array([self.per_relation.get(r, self.global_threshold) for r in rel.tolist()], dtype=float)

    def predict(self, scores, relations) -> np.ndarray:
        return np.asarray(scores, dtype=float).ravel() >= self.for_relations(relations)


def fit_thresholds(scores, labels, relations) -> Thresholds:
    """Global threshold on all validation examples, then one per relation (maximising that relation's
    validation accuracy; the global threshold is kept where no other cut is strictly better)."""
    s, y = np.asarray(scores, dtype=float).ravel(), np.asarray(labels).astype(bool).ravel()
    rel = np.asarray(relations, dtype=np.int64).ravel()
    global_threshold, _ = best_threshold(s, y)
    out = Thresholds(global_threshold)
    for r in np.unique(rel).tolist():
        m = rel == r
        out.per_relation[r], _ = best_threshold(s[m], y[m], prefer=global_threshold)
    return out


def accuracy(predicted, labels) -> float | None:
    p, y = np.asarray(predicted, dtype=bool).ravel(), np.asarray(labels).astype(bool).ravel()
    return float((p == y).mean()) if len(y) else None


def triple_classification(valid_scores, valid_labels, valid_relations, test_scores, test_labels, test_relations,
                          rel_names: list[str]) -> dict:
    """Thresholds chosen on validation, accuracy on test: overall and per relation (JSON-ready)."""
    vs, vy = np.asarray(valid_scores, dtype=float), np.asarray(valid_labels).astype(bool)
    vr = np.asarray(valid_relations, dtype=np.int64)
    ts, ty = np.asarray(test_scores, dtype=float), np.asarray(test_labels).astype(bool)
    tr = np.asarray(test_relations, dtype=np.int64)
    thresholds = fit_thresholds(vs, vy, vr)
    predicted = thresholds.predict(ts, tr)
    per_relation = {}
    for r in np.unique(np.r_[vr, tr]).tolist():
        m, vm = tr == r, vr == r
        own = r in thresholds.per_relation
        per_relation[rel_names[r]] = {
            "test": int(m.sum()), "test_positives": int(ty[m].sum()),
            "valid": int(vm.sum()), "valid_positives": int(vy[vm].sum()),
            "threshold": thresholds.per_relation.get(r, thresholds.global_threshold),
            "threshold_from": "relation" if own else "global (no validation examples)",
            "valid_accuracy": accuracy(thresholds.predict(vs[vm], vr[vm]), vy[vm]),
            "accuracy": accuracy(predicted[m], ty[m]),
        }
    true_pos = int((predicted & ty).sum())
    return {
        "accuracy": accuracy(predicted, ty),
        "accuracy_global_threshold": accuracy(ts >= thresholds.global_threshold, ty),
        "valid_accuracy": accuracy(thresholds.predict(vs, vr), vy),
        "precision": true_pos / int(predicted.sum()) if predicted.any() else None,
        "recall": true_pos / int(ty.sum()) if ty.any() else None,
        "global_threshold": thresholds.global_threshold,
        "counts": {"test": int(len(ty)), "test_positives": int(ty.sum()),
                   "valid": int(len(vy)), "valid_positives": int(vy.sum()),
                   "relations_with_own_threshold": len(thresholds.per_relation),
                   "test_relations_on_global_threshold": int(len(set(tr.tolist()) - set(thresholds.per_relation)))},
        "per_relation": per_relation,
        "protocol": "CoDEx triple classification: positives are the split's triples, negatives its verified false "
                    "triples; 'true iff score >= threshold', one threshold per relation maximising validation "
                    "accuracy (the global one where no other cut is strictly better, and for relations without "
                    "validation examples); " + SCORE_PROTOCOL,
    }


# ---- calibration and selection on test (pure) -------------------------------------------------------------------

def _selection_stats(probs: np.ndarray, labels: np.ndarray, selected: np.ndarray) -> dict:
    n_sel = int(selected.sum())
    return {"candidates": int(len(labels)), "positives": int(labels.sum()),
            "ece": float(expected_calibration_error(probs, labels)) if len(labels) else None,
            "mean_probability": float(probs.mean()) if len(labels) else None,
            "positive_rate": float(labels.mean()) if len(labels) else None,
            "selected": n_sel, "selected_true": int(labels[selected].sum()),
            "selected_precision": float(labels[selected].mean()) if n_sel else None}


def calibration_on_candidates(calibration, scores, labels, groups, rel_names: list[str]) -> dict:
    """Probabilities of the fitted calibration on (held-out) candidates: ECE, and the selection that each group's
    validation threshold makes (a group without a threshold selects nothing), overall, per relation and group."""
    s, y = np.asarray(scores, dtype=float).ravel(), np.asarray(labels, dtype=np.int64).ravel()
    g = np.asarray(groups, dtype=np.int64).ravel()
    probs = np.zeros(len(s))
    selected = np.zeros(len(s), dtype=bool)
    for group in np.unique(g).tolist():
        m = g == group
        probs[m] = calibration.predict(group, s[m])
        threshold = calibration.threshold(group)
        if threshold is not None:
            selected[m] = probs[m] >= threshold
    rel = relation_of(g)
    out = _selection_stats(probs, y, selected)
    out["per_relation"] = {rel_names[r]: _selection_stats(probs[rel == r], y[rel == r], selected[rel == r])
                           for r in np.unique(rel).tolist()}
    out["per_group"] = {group_name(group, rel_names): _selection_stats(probs[g == group], y[g == group],
                                                                       selected[g == group])
                        | {"threshold": calibration.threshold(group)}
                        for group in np.unique(g).tolist()}
    return out


# ---- glue for the bench: model + snapshot in, report out --------------------------------------------------------

def candidates_on_test(model, z: Tensor, snapshot: Snapshot, calibration, *, k: int, type_constrained: bool = True):
    """(values, labels, groups) of the top-k candidate tails of every distinct test (head, rel).

    Train and valid edges are blocked (known by then), positives are test edges, z comes from train edges as for
    the validation candidates the calibration was fitted on (the symmetric protocol of
    learn/calibrate.held_out_candidates). values are what the calibration reads (RelationCalibration.values:
    the raw score, or the combined evidence with train and valid edges known). The group's 'head has one' counts
    train and valid edges: the edges known when these candidates would be proposed.
    """
    known = (SPLIT_TRAIN, SPLIT_VALID)
    cands, labels = held_out_candidates(model, z, snapshot, k=k, split=SPLIT_TEST, known_splits=known,
                                        type_constrained=type_constrained)
    context = evidence_context(model, snapshot) if calibration.combiner is not None else None
    has_edge = heads_with_edge(known_rows(snapshot, known), snapshot.num_nodes, snapshot.num_relations)
    return calibration.values(cands, context), labels, group_ids(cands.rels, has_edge[cands.rels, cands.heads])


def classification_report(model, z: Tensor, snapshot: Snapshot, folder: Path,
                          relation_types: dict[str, str] | None = None) -> dict | None:
    """Triple classification on the dataset's negatives; None when the folder has no negatives files.
    relation_types: relation id -> relationship type as ingest named them (read_negatives)."""
    folder = Path(folder)
    if not all((folder / name).is_file() for name in NEGATIVE_FILES.values()):
        return None
    splits = {}
    for split, code in (("valid", SPLIT_VALID), ("test", SPLIT_TEST)):
        positives = snapshot.triples(code)
        negatives = read_negatives(folder / NEGATIVE_FILES[split], snapshot, relation_types)
        triples = torch.cat([positives, negatives])
        labels = np.r_[np.ones(len(positives), dtype=bool), np.zeros(len(negatives), dtype=bool)]
        scores = reciprocal_scores(model, z, triples, snapshot.num_relations).numpy()
        splits[split] = (scores, labels, triples[:, 1].numpy())
    report = triple_classification(*splits["valid"], *splits["test"], snapshot.rel_names)
    report["published"] = PUBLISHED_ACCURACY.get(folder.resolve().name, {})
    return report


def calibration_test_report(model, z: Tensor, snapshot: Snapshot, calibration, *, k: int,
                            type_constrained: bool = True) -> dict:
    values, labels, groups = candidates_on_test(model, z, snapshot, calibration, k=k,
                                                type_constrained=type_constrained)
    report = calibration_on_candidates(calibration, values, labels, groups, snapshot.rel_names)
    report["protocol"] = (f"top-{k} candidate tails of each test (head, relation), train and valid edges blocked, "
                          "label 1 if a test edge; probabilities and thresholds fitted on the same kind of "
                          "candidates on validation (pipeline.calibrate); ECE over 10 equal-width bins")
    return report
