"""The combined evidence behind write decisions (learn/selector.py) and the symmetric held-out protocol."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from kgplatform.learn.calibrate import held_out_candidates
from kgplatform.learn.per_relation import RelationCalibration, fit_relation_calibration, group_ids
from kgplatform.learn.selector import (
    FEATURES,
    Combiner,
    QueryCandidates,
    candidate_features,
    design_matrix,
    extend_context,
    feature_context,
    fit_combiner,
)
from kgplatform.snapshot import SPLIT_TEST, SPLIT_TRAIN, SPLIT_VALID, Snapshot
from tests.support.snapshots import ScoreTable

COL = {name: i for i, name in enumerate(FEATURES)}


def synthetic(n: int = 4000, seed: int = 0):
    """Features where the label depends on score, and on a mention only for relation 1 (an interaction)."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, len(FEATURES)))
    features[:, COL["head_names_tail"]] = rng.integers(0, 2, n)
    rels = rng.integers(0, 2, n)
    logit = 1.5 * features[:, COL["score"]] + 3.0 * features[:, COL["head_names_tail"]] * (rels == 1) - 2.0
    labels = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return features, labels, rels, rng.integers(0, 600, n)


def test_the_saved_combiner_scores_exactly_the_mean_of_its_fold_models():
    from sklearn.model_selection import GroupKFold

    from kgplatform.learn.selector import _boosted

    features, labels, rels, heads = synthetic()
    combiner, oof = fit_combiner(features, labels, rels, heads, num_relations=2, folds=3)
    restored = Combiner.from_dict(json.loads(json.dumps(combiner.to_dict(["A", "B"]))), ["A", "B"])
    x = design_matrix(features, rels, 2)
    folds = list(GroupKFold(n_splits=3).split(x, labels, heads))
    models = [_boosted(x[train], labels[train], i) for i, (train, _) in enumerate(folds)]
    expected = np.mean([m.decision_function(x) for m in models], axis=0)
    assert np.allclose(restored.logit(features, rels), expected, atol=1e-9)
    for i, (_, held) in enumerate(folds):  # out-of-fold: each row scored by the model that never saw its head
        assert np.allclose(oof[held], models[i].decision_function(x[held]), atol=1e-9)


def test_the_combiner_learns_an_interaction_a_single_score_cannot_carry():
    features, labels, rels, heads = synthetic(seed=1)
    combiner, oof = fit_combiner(features, labels, rels, heads, num_relations=2, folds=5)
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(labels, oof) > roc_auc_score(labels, features[:, COL["score"]]) + 0.03
    mentioned = features.copy()
    mentioned[:, COL["head_names_tail"]] = 1.0
    plain = features.copy()
    plain[:, COL["head_names_tail"]] = 0.0
    lift = combiner.logit(mentioned, rels) - combiner.logit(plain, rels)
    assert lift[rels == 1].mean() > lift[rels == 0].mean() + 1.0  # the mention matters for relation 1 only


def test_a_saved_combiner_for_other_relations_or_malformed_trees_is_refused():
    features, labels, rels, heads = synthetic(n=800)
    saved = fit_combiner(features, labels, rels, heads, num_relations=2, folds=5)[0].to_dict(["A", "B"])
    with pytest.raises(ValueError, match="relations differ"):
        Combiner.from_dict(saved, ["A", "C"])
    broken = dict(saved, left=[10**9] * len(saved["left"]))
    with pytest.raises(ValueError, match="malformed"):
        Combiner.from_dict(broken, ["A", "B"])


def test_a_calibration_with_a_combiner_round_trips_and_needs_its_context():
    features, labels, rels, heads = synthetic(n=1500)
    combiner, oof = fit_combiner(features, labels, rels, heads, num_relations=2, folds=5)
    groups = group_ids(rels, np.ones(len(rels), dtype=int))
    calibration = fit_relation_calibration(oof, labels, groups, method="platt", target_precision=0.8)[0]
    calibration.combiner = combiner
    restored = RelationCalibration.from_dict(json.loads(json.dumps(calibration.to_dict(["A", "B"]))), ["A", "B"])
    assert np.array_equal(restored.combiner.logit(features, rels), combiner.logit(features, rels))
    empty = np.empty(0)
    cands = QueryCandidates(*(np.empty(0, dtype=np.int64),) * 3, empty, empty, empty, np.empty(0, dtype=np.int64),
                            empty)
    with pytest.raises(ValueError, match="feature context"):
        restored.values(cands, None)


def test_graph_and_text_features_read_the_known_edges():
    # 0 -R0-> 2 and 1 -R0-> 2: node 3 is linked to 0 and 1 (R1), so its neighbours vote for tail 2
    known = torch.tensor([[0, 0, 2], [1, 0, 2], [3, 1, 0], [3, 1, 1]])
    mentions = torch.tensor([[3], [2]])  # node 3's text names node 2
    text = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 2.0]])
    ctx = feature_context(known, 4, 2, mentions, text)
    cands = QueryCandidates(np.array([3, 0]), np.array([0, 0]), np.array([2, 1]), np.array([1.0, 0.5]),
                            np.array([-0.1, -2.0]), np.array([0.0, -0.5]), np.array([0, 3]), np.array([0.2, 0.1]))
    f = candidate_features(cands, ctx)
    assert f[0, COL["neighbour_votes"]] == pytest.approx(np.log1p(2))  # 0 and 1 both have tail 2
    assert f[0, COL["vote_share"]] == pytest.approx(2 / 3)
    assert f[0, COL["common_neighbours"]] == pytest.approx(np.log1p(2))
    assert f[0, COL["head_names_tail"]] == 1 and f[1, COL["head_names_tail"]] == 0
    assert f[0, COL["text_cosine"]] == pytest.approx(1.0) and f[1, COL["text_cosine"]] == pytest.approx(1.0)
    assert f[1, COL["head_degree"]] == pytest.approx(np.log1p(1)) and f[0, COL["head_degree"]] == 0
    assert f[0, COL["tail_degree"]] == pytest.approx(np.log1p(2))
    assert f[1, COL["log_rank"]] == pytest.approx(np.log1p(3))


def test_validation_and_test_candidates_each_have_one_split_left_to_find():
    # head 0: a train, a valid and a test edge
    rows = torch.tensor([[0, 0, 1], [0, 0, 2], [0, 0, 3], [5, 0, 4]])
    split = torch.tensor([SPLIT_TRAIN, SPLIT_VALID, SPLIT_TEST, SPLIT_TRAIN])
    snap = Snapshot([f"n{i}" for i in range(6)], ["T"], torch.zeros(6, dtype=torch.long), [""] * 6, ["R"],
                    rows[:, [0, 2]].t().contiguous(), rows[:, 1].contiguous(), split)
    model = ScoreTable(torch.tensor([6.0, 5.0, 4.0, 3.0, 2.0, 1.0]))
    valid, valid_labels = held_out_candidates(model, None, snap, k=3, known_splits=(SPLIT_TRAIN, SPLIT_TEST),
                                              type_constrained=False)
    test, test_labels = held_out_candidates(model, None, snap, k=3, split=SPLIT_TEST,
                                            known_splits=(SPLIT_TRAIN, SPLIT_VALID), type_constrained=False)
    assert valid.tails.tolist() == [2, 4, 5] and valid_labels.tolist() == [1, 0, 0]  # 3 (test) is blocked
    assert test.tails.tolist() == [3, 4, 5] and test_labels.tolist() == [1, 0, 0]  # 2 (valid) is blocked
    assert valid.rank.tolist() == [0, 1, 2] and valid.gap_to_best.tolist() == [0.0, -2.0, -3.0]
    lse = np.log(np.exp([4.0, 2.0, 1.0]).sum())  # log-softmax over every allowed tail of the query
    assert np.allclose(valid.log_softmax, np.array([4.0, 2.0, 1.0]) - lse)
    assert valid.reverse_scores.tolist() == [6.0, 6.0, 6.0]  # the reciprocal query's score of head 0


def test_arrivals_are_held_out_of_training_and_then_find_every_hidden_edge_of_their_heads():
    from kgplatform.learn.config import TrainConfig
    from kgplatform.learn.model import LinkPredictor
    from kgplatform.learn.newheads import SPLIT_HELD_OUT, draw_arrivals, simulate_arrivals, training_view

    # heads 0 and 1 have two outgoing train edges each; 4 and 5 have one (never drawn)
    rows = torch.tensor([[0, 0, 2], [0, 0, 3], [0, 0, 5], [1, 0, 3], [1, 0, 2], [1, 0, 4], [4, 0, 2], [5, 0, 0]])
    split = torch.tensor([SPLIT_TRAIN, SPLIT_TRAIN, SPLIT_VALID, SPLIT_TRAIN, SPLIT_TRAIN, SPLIT_TEST, SPLIT_TRAIN,
                          SPLIT_TRAIN])
    snap = Snapshot([f"n{i}" for i in range(6)], ["T"], torch.zeros(6, dtype=torch.long), [""] * 6, ["R"],
                    rows[:, [0, 2]].t().contiguous(), rows[:, 1].contiguous(), split)
    assert draw_arrivals(snap, seed=3, share=0.0, min_heads=1) is None
    assert draw_arrivals(snap, seed=3, share=0.5, min_heads=2) is None  # one head: fewer than asked for
    holdout = draw_arrivals(snap, seed=3, share=1.0, min_heads=2)
    assert holdout.heads.tolist() == [0, 1]
    for head in (0, 1):  # one revealed train edge per head
        assert int((holdout.revealed & (rows[:, 0] == head)).sum()) == 1
    assert (split[holdout.revealed] == SPLIT_TRAIN).all()
    assert holdout.hidden[2] and holdout.hidden[7]  # its validation edge, and 5 -> 0, which touches head 0
    assert not holdout.hidden[6] and not holdout.hidden[5] and holdout.test[5]  # other edges; the test edge

    # training never sees a hidden train edge; validation and test keep their splits
    view = training_view(snap, holdout)
    train = view.edge_split == SPLIT_TRAIN
    assert train.tolist() == (holdout.revealed | ((rows[:, 0] == 4) & (split == SPLIT_TRAIN))).tolist()
    assert (view.edge_split[holdout.hidden & (split == SPLIT_TRAIN)] == SPLIT_HELD_OUT).all()
    assert view.edge_split[2] == SPLIT_VALID and view.edge_split[5] == SPLIT_TEST
    assert training_view(snap, None) is snap

    model = LinkPredictor(6, 1, TrainConfig(dim=8, use_text=False))
    sim = simulate_arrivals(model, snap, holdout)
    assert not sim.model.has_embedding[[0, 1]].any() and sim.model.has_embedding[[2, 3, 4, 5]].all()
    assert model.has_embedding.all()  # the trained model is not touched
    assert (sim.view.edge_split == SPLIT_VALID).tolist() == holdout.hidden.tolist()  # what is left to find
    assert [1, 0, 4] in sim.view.excluded.tolist()  # a held-out head's test edge: never a candidate or a label
    assert sim.feature_rows.tolist() == rows[holdout.revealed | (rows[:, 0] == 4)].tolist()


def test_a_grown_context_equals_one_built_from_every_edge():
    gen = torch.Generator().manual_seed(2)
    rows = torch.stack([torch.randint(20, (60,), generator=gen), torch.randint(3, (60,), generator=gen),
                        torch.randint(20, (60,), generator=gen)], dim=1)
    added = torch.tensor([[20, 0, 3], [21, 2, 20], [4, 1, 5], [4, 1, 5]])  # new heads, a new tail, a repeat
    text = torch.randn(22, 8, generator=gen)
    mentions = torch.tensor([[20], [3]])
    grown = extend_context(feature_context(rows, 20, 3, torch.zeros(2, 0, dtype=torch.long), text[:20]), added, 22,
                           mentions, text)
    whole = feature_context(torch.cat([rows, added]), 22, 3, mentions, text)
    assert np.array_equal(grown.head_degree, whole.head_degree)
    assert np.array_equal(grown.tail_degree, whole.tail_degree)
    assert (grown.adjacency != whole.adjacency).nnz == 0
    assert all((a != b).nnz == 0 for a, b in zip(grown.into_tail, whole.into_tail))
    assert np.allclose(grown.text, whole.text) and grown.mentions is mentions


def test_a_pooled_threshold_rests_on_every_group_and_reaches_the_target_on_their_union():
    rng = np.random.default_rng(4)
    # three relations with the same score-to-truth map; relation 2 has too few candidates for its own threshold
    sizes = (400, 300, 60)
    rels = np.concatenate([np.full(n, r) for r, n in enumerate(sizes)])
    scores = rng.normal(size=len(rels))
    labels = (rng.random(len(rels)) < 1 / (1 + np.exp(-(3 * scores - 1)))).astype(int)
    groups = group_ids(rels, np.zeros(len(rels), dtype=int))
    per_group, per_report = fit_relation_calibration(scores, labels, groups, method="platt", target_precision=0.9,
                                                     confidence=0.9)
    pooled, pooled_report = fit_relation_calibration(scores, labels, groups, method="platt", target_precision=0.9,
                                                     confidence=0.9, pooled=True)
    thresholds = {pooled.threshold(g) for g in np.unique(groups).tolist()}
    assert len(thresholds) == 1 and None not in thresholds  # one threshold, shared by every group
    assert pooled_report["summary"]["threshold_scope"] == "pooled"
    assert pooled_report["summary"]["selected_precision"] >= 0.9
    assert pooled_report["summary"]["selected"] > per_report["summary"]["selected"]  # more evidence, more written
    # a restored pooled calibration thresholds the same
    restored = RelationCalibration.from_dict(json.loads(json.dumps(pooled.to_dict(["A", "B", "C"]))),
                                             ["A", "B", "C"])
    assert {restored.threshold(g) for g in np.unique(groups).tolist()} == thresholds
