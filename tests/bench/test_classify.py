"""Triple classification and held-out calibration of the bench (kgplatform/bench/classify.py).

Hand-made tensors for the pure functions, then one run on the real CoDEx-S data through the embedded store.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch

from kgplatform.bench.classify import (
    best_threshold,
    calibration_on_candidates,
    fit_thresholds,
    read_negatives,
    reciprocal_scores,
    triple_classification,
)
from kgplatform.bench.linkpred import render_markdown, write_back_decisions
from kgplatform.errors import InputError
from kgplatform.learn.calibrate import (
    Calibrator,
    expected_calibration_error,
    precision_lower_bound,
    threshold_for_precision,
    validation_candidates,
)
from kgplatform.learn.per_relation import RelationCalibration, group_ids
from kgplatform.snapshot import SPLIT_TEST, SPLIT_TRAIN, SPLIT_VALID, Snapshot
from tests.support.env import require_dataset
from tests.support.snapshots import ScoreTable


def brute_force_accuracy(scores, labels) -> float:
    """Best accuracy of 'true iff score >= t' over every t that can make a difference."""
    s, y = np.asarray(scores, dtype=float), np.asarray(labels, dtype=bool)
    cuts = np.r_[-np.inf, np.unique(s), np.inf]
    return max(float(((s >= t) == y).mean()) for t in cuts)


# ---- thresholds -------------------------------------------------------------------------------------------------

def test_best_threshold_maximises_accuracy_on_known_values():
    #          neg  neg  pos  neg  pos  pos
    scores = [0.1, 0.2, 0.3, 0.35, 0.8, 0.9]
    labels = [0, 0, 1, 0, 1, 1]
    t, acc = best_threshold(scores, labels)
    assert acc == pytest.approx(5 / 6)
    # the two cuts with 5/6 right are 0.25 (calls 0.35 true) and 0.575 (calls 0.3 false); the middle of two is the 2nd
    assert t == pytest.approx(0.575)
    assert ((np.array(scores) >= t) == np.array(labels, dtype=bool)).mean() == pytest.approx(acc)


@pytest.mark.parametrize("seed", range(5))
def test_best_threshold_equals_brute_force_on_random_data_with_ties(seed):
    rng = np.random.default_rng(seed)
    labels = rng.random(60) < 0.5
    scores = np.round(rng.normal(size=60) + labels * 0.8, 1)  # rounded: many equal scores
    t, acc = best_threshold(scores, labels)
    assert acc == pytest.approx(brute_force_accuracy(scores, labels))
    assert float(((scores >= t) == labels).mean()) == pytest.approx(acc)


def test_ties_go_to_the_preferred_threshold_or_the_best_cut_nearest_it():
    # neg 1, pos 3, neg 5, pos 7: cuts at 2 and at 6 both get 3/4 right; all-true / all-false get 2/4
    scores, labels = [1.0, 3.0, 5.0, 7.0], [0, 1, 0, 1]
    assert best_threshold(scores, labels, prefer=10.0) == (6.0, 0.75)
    assert best_threshold(scores, labels, prefer=-10.0) == (2.0, 0.75)
    # a preferred threshold that is as accurate as the best cut is kept as it is
    assert best_threshold(scores, labels, prefer=2.5) == (2.5, 0.75)
    # one positive below one negative: all-true and all-false tie at 1/2; a preferred threshold as good stays
    assert best_threshold([1.0, 2.0], [1, 0], prefer=0.0) == (0.0, 0.5)
    t, acc = best_threshold([1.0, 2.0], [1, 0], prefer=1.5)  # 1.5 gets both wrong: an extreme cut replaces it
    assert acc == 0.5 and t in (-np.inf, np.inf)


def test_per_relation_thresholds_and_global_fallback():
    # relation 0 separates at 0.5, relation 1 at 5.0; relation 2 has no validation examples
    scores = np.array([0.1, 0.2, 0.7, 0.9, 4.0, 4.5, 5.5, 6.0])
    labels = np.array([0, 0, 1, 1, 0, 0, 1, 1])
    rels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    th = fit_thresholds(scores, labels, rels)
    assert set(th.per_relation) == {0, 1}
    assert th.per_relation[0] == pytest.approx(0.45) and th.per_relation[1] == pytest.approx(5.0)
    assert th.predict(scores, rels).tolist() == labels.astype(bool).tolist()  # every validation example right
    # the global threshold (one cut over all eight) cannot separate both relations at once
    assert brute_force_accuracy(scores, labels) < 1.0
    assert th.for_relations([2, 0]).tolist() == [th.global_threshold, th.per_relation[0]]

    test_scores, test_labels, test_rels = np.array([0.6, 0.3, 5.2, 3.0, 100.0]), np.array([1, 0, 1, 0, 1]), \
        np.array([0, 0, 1, 1, 2])
    rep = triple_classification(scores, labels, rels, test_scores, test_labels, test_rels, ["A", "B", "C"])
    assert rep["accuracy"] == pytest.approx(1.0)
    assert rep["valid_accuracy"] == pytest.approx(1.0)
    assert rep["per_relation"]["C"]["threshold_from"].startswith("global")
    assert rep["per_relation"]["C"]["threshold"] == th.global_threshold
    assert rep["per_relation"]["A"]["threshold_from"] == "relation"
    assert rep["counts"]["test_relations_on_global_threshold"] == 1
    assert rep["counts"] == {"test": 5, "test_positives": 3, "valid": 8, "valid_positives": 4,
                                  "relations_with_own_threshold": 2, "test_relations_on_global_threshold": 1}
    json.dumps(rep)


def test_reciprocal_scores_average_both_directions():
    class Table:
        def score_triples(self, z, h, r, t):
            return z[h, r, t]

    R = 2
    z = torch.arange(3 * 2 * R * 3, dtype=torch.float).view(3, 2 * R, 3)
    triples = torch.tensor([[0, 1, 2], [2, 0, 1]])
    got = reciprocal_scores(Table(), z, triples, R)
    assert got.tolist() == [(z[0, 1, 2] + z[2, 3, 0]).item() / 2, (z[2, 0, 1] + z[1, 2, 2]).item() / 2]


# ---- reading negatives ------------------------------------------------------------------------------------------

def small_snapshot() -> Snapshot:
    rows = torch.tensor([[0, 0, 1], [1, 1, 2]])
    return Snapshot(["Q1", "Q2", "Q3"], ["Thing"], torch.zeros(3, dtype=torch.long), [""] * 3, ["P27", "HYPERNYM"],
                    rows[:, [0, 2]].t().contiguous(), rows[:, 1].contiguous(), torch.zeros(2, dtype=torch.long))


def test_read_negatives_maps_ids_and_relation_names_as_ingest(tmp_path):
    path = tmp_path / "negatives_test.tsv"
    path.write_text("Q1\tP27\tQ3\n\nQ3\t_hypernym\tQ1\n")
    assert read_negatives(path, small_snapshot()).tolist() == [[0, 0, 2], [2, 1, 0]]


def test_read_negatives_takes_the_names_ingest_registered(tmp_path):
    """A relation id that ingest named with a hash (a collision) is found through the registry's mapping."""
    path = tmp_path / "negatives_test.tsv"
    path.write_text("Q1\t/people/person/nationality\tQ3\n")
    mapping = {"/people/person/nationality": "P27"}  # relation id -> the type the store has
    assert read_negatives(path, small_snapshot(), mapping).tolist() == [[0, 0, 2]]
    with pytest.raises(InputError, match="unknown relation"):
        read_negatives(path, small_snapshot())  # by the single-name rule it would be PEOPLE_PERSON_NATIONALITY


@pytest.mark.parametrize("row, problem", [
    ("Q1\tP27", ":2: expected 3 tab-separated fields (head, relation, tail), got 2"),
    ("Q1\tP27\tQ404", ":2: unknown entity 'Q404'"),
    ("Q404\tP27\tQ1", ":2: unknown entity 'Q404'"),
    ("Q1\tP999\tQ2", ":2: unknown relation 'P999'"),
    ("Q1\tP`27\tQ2", ":2: unknown relation 'P`27'"),  # hostile names fold into a valid type, then are unknown
])
def test_read_negatives_errors_name_file_and_line(tmp_path, row, problem):
    path = tmp_path / "negatives_valid.tsv"
    path.write_text(f"Q1\tP27\tQ2\n{row}\nQ2\tP27\tQ3\n")
    with pytest.raises(InputError) as err:
        read_negatives(path, small_snapshot())
    assert err.value.problems[0].startswith(f"{path}{problem}")
    assert len(err.value.problems) == 1


def test_read_negatives_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no such negatives file"):
        read_negatives(tmp_path / "negatives_test.tsv", small_snapshot())


# ---- candidates on the test split ---------------------------------------------------------------------------

def test_test_candidates_block_train_and_valid_and_label_test_edges():
    # one relation, all 6 nodes one type; head 0 has a train, a valid and a test edge; head 1 a test edge only
    rows = torch.tensor([[0, 0, 1], [0, 0, 2], [0, 0, 3], [1, 0, 4], [5, 0, 1]])
    split = torch.tensor([SPLIT_TRAIN, SPLIT_VALID, SPLIT_TEST, SPLIT_TEST, SPLIT_TRAIN])
    snap = Snapshot([f"n{i}" for i in range(6)], ["T"], torch.zeros(6, dtype=torch.long), [""] * 6, ["R"],
                    rows[:, [0, 2]].t().contiguous(), rows[:, 1].contiguous(), split)
    model = ScoreTable(torch.tensor([6.0, 5.0, 4.0, 3.0, 2.0, 1.0]))  # node 0 best, node 5 worst
    s, y, rel, heads = validation_candidates(model, None, snap, k=3, split=SPLIT_TEST,
                                             known_splits=(SPLIT_TRAIN, SPLIT_VALID), with_relations=True,
                                             type_constrained=False)
    # head 0: 0 (itself), 1 (train) and 2 (valid) are blocked -> 3 (test edge), 4, 5
    # head 1: 1 (itself) blocked -> 0, 2, 3; its test edge 1->4 is not in its top 3
    assert heads.tolist() == [0, 0, 0, 1, 1, 1]
    assert s.tolist() == [3.0, 2.0, 1.0, 6.0, 4.0, 3.0]
    assert y.tolist() == [1, 0, 0, 0, 0, 0]
    # the default (validation) keeps valid and test edges as candidates and counts both as positives
    s, y = validation_candidates(model, None, snap, k=3, split=SPLIT_TEST, type_constrained=False)
    assert s.tolist() == [4.0, 3.0, 2.0, 6.0, 4.0, 3.0] and y.tolist() == [1, 1, 0, 0, 0, 0]


def test_calibration_on_candidates_selects_by_group_threshold():
    identity = Calibrator().fit([0.0, 1.0], [0, 1])  # isotonic through (0, 0) and (1, 1): p = score
    b_none, b_one = group_ids(np.array([1, 1]), np.array([0, 1])).tolist()  # relation B's two head buckets
    calibration = RelationCalibration(fallback=identity, per_group={0: (identity, 0.7), b_none: (identity, None)})
    scores = np.array([0.9, 0.8, 0.6, 0.2, 0.9, 0.1, 0.95])
    labels = np.array([1, 0, 1, 0, 1, 0, 1])
    groups = np.array([0, 0, 0, 0, b_none, b_none, b_one])  # b_none: no threshold; b_one: unknown (fallback)
    rep = calibration_on_candidates(calibration, scores, labels, groups, ["A", "B"])
    assert rep["selected"] == 2 and rep["selected_true"] == 1 and rep["selected_precision"] == 0.5
    assert rep["candidates"] == 7 and rep["positives"] == 4
    assert rep["ece"] == pytest.approx(expected_calibration_error(scores, labels))
    assert rep["per_relation"]["A"]["selected"] == 2 and rep["per_relation"]["B"]["selected"] == 0
    assert rep["per_relation"]["B"]["candidates"] == 3
    assert rep["per_group"]["A|head has none"]["threshold"] == 0.7
    assert rep["per_group"]["B|head has none"]["selected_precision"] is None
    json.dumps(rep)


def test_confident_threshold_needs_more_than_a_lucky_top_set():
    # all-true sets: the one-sided Clopper-Pearson bound is (1 - confidence) ** (1 / n)
    assert precision_lower_bound([3, 30], [3, 30], 0.75) == pytest.approx([0.25 ** (1 / 3), 0.25 ** (1 / 30)])
    assert precision_lower_bound([0], [5], 0.75).tolist() == [0.0]
    assert precision_lower_bound([8], [10], 0.75)[0] < 0.8  # below the observed precision
    top3 = np.array([0.99, 0.98, 0.97] + [0.5] * 20)
    labels3 = np.array([1, 1, 1] + [0] * 20)
    assert threshold_for_precision(top3, labels3, 0.9) == 0.97  # 3 of 3 passes on observed precision
    assert threshold_for_precision(top3, labels3, 0.9, confidence=0.75) is None  # but is no evidence of 0.9
    top30 = np.r_[np.linspace(0.99, 0.9, 30), [0.5] * 20]
    labels30 = np.r_[np.ones(30), np.zeros(20)]
    assert threshold_for_precision(top30, labels30, 0.9, confidence=0.75) == pytest.approx(0.9)


def test_write_back_table_marks_targets():
    base = {"dataset": "d", "timings_s": {}, "time_budget_s": 1, "stopped_reason": "x",
            "valid": {"best_mrr": 0.1, "best_epoch": 1}, "published": {},
            "test": {"mrr": 0, "hits@1": 0, "hits@3": 0, "hits@10": 0, "per_relation": {}},
            "test_unconstrained": {"mrr": 0, "hits@1": 0, "hits@3": 0, "hits@10": 0}}
    cal = {"ece": 0.08, "selected": 12, "candidates": 300, "selected_precision": 0.95}
    with_neg = base | {"classification": {"accuracy": 0.83, "published": {"ComplEx": 0.814}}, "calibration_test": cal}
    md = render_markdown([with_neg, base | {"dataset": "e", "calibration_test": cal}])
    rows = [line for line in md.splitlines() if line.startswith(("| d |", "| e |")) and "candidates" in line]
    assert rows[0] == ("| d | 0.830 (met) | ComplEx 0.814 | 0.080 (not met, gap 0.030) | 12 of 300 candidates | "
                       "0.950 (met) |")
    assert rows[1].startswith("| e | n/a |")


# ---- real data ----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def codex(base_settings):
    from kgplatform.graph.export import export_snapshot
    from kgplatform.graph.store import open_store
    from kgplatform.ingest.load import ingest_path
    from kgplatform.learn.config import TrainConfig
    from kgplatform.learn.train import train_link_predictor

    folder = require_dataset("codex-s")
    store = open_store(base_settings, graph="t_classify_codex")
    ingest_path(store, folder)
    snapshot = export_snapshot(store)
    cfg = TrainConfig(time_budget_s=20, use_text=False, seed=0)
    result = train_link_predictor(snapshot, None, cfg)
    yield folder, snapshot, result.model, cfg
    store.delete_graph()
    store.close()


def expected_test_candidates(snapshot: Snapshot, k: int) -> tuple[int, set]:
    """Independent count of the top-k candidate rows of the test queries: type-valid tails (ranges seen in train
    and valid), not the head, not a train/valid tail of (head, rel); and the set of test triples."""
    rows = snapshot.triples().tolist()
    splits = snapshot.edge_split.tolist()
    known = [row for row, s in zip(rows, splits) if s in (SPLIT_TRAIN, SPLIT_VALID)]
    node_type = snapshot.node_type.tolist()
    range_types, known_tails = {}, {}
    for h, r, t in known:
        range_types.setdefault(r, set()).add(node_type[t])
        known_tails.setdefault((h, r), set()).add(t)
    by_type = {}
    for n, ty in enumerate(node_type):
        by_type.setdefault(ty, set()).add(n)
    total = 0
    test = {tuple(row) for row, s in zip(rows, splits) if s == SPLIT_TEST}
    for h, r in {(h, r) for h, r, _ in test}:
        allowed = set(itertools.chain.from_iterable(by_type[ty] for ty in range_types[r]))
        total += min(k, len(allowed - known_tails.get((h, r), set()) - {h}))
    return total, test


def test_codex_s_classification_and_test_calibration(codex):
    folder, snapshot, model, cfg = codex
    classification, cal = write_back_decisions(model, snapshot, folder, cfg)

    n_valid, n_test = len(snapshot.triples(SPLIT_VALID)), len(snapshot.triples(SPLIT_TEST))
    assert classification["counts"]["valid"] == n_valid + 1827 and classification["counts"]["test"] == n_test + 1828
    assert classification["counts"]["test_positives"] == n_test == 1828
    # verified negatives are hard (plausible, type-correct); a trained model still separates them well over chance
    assert classification["accuracy"] > 0.6
    assert classification["valid_accuracy"] >= classification["accuracy"] - 0.1  # chosen there, so not far below
    assert sum(r["test"] for r in classification["per_relation"].values()) == n_test + 1828

    expected, test = expected_test_candidates(snapshot, k=10)
    assert cal["candidates"] == expected
    assert 0 < cal["positives"] <= len(test)
    assert sum(r["candidates"] for r in cal["per_relation"].values()) == expected
    assert 0.0 <= cal["ece"] <= 1.0
    assert 0 <= cal["selected"] <= cal["candidates"]
    if cal["selected"]:
        assert 0.0 <= cal["selected_precision"] <= 1.0
    # the validation side reached the target on validation by construction
    if cal["valid"]["selected"]:
        assert cal["valid"]["selected_precision"] >= 0.9
    json.dumps({"classification": classification, "calibration_test": cal})
    print("\ncodex-s (20 s, no text):", json.dumps({
        "accuracy": classification["accuracy"], "accuracy_global": classification["accuracy_global_threshold"],
        "valid_accuracy": classification["valid_accuracy"], "ece": cal["ece"], "selected": cal["selected"],
        "precision": cal["selected_precision"], "valid": cal["valid"]}))
