"""The recommender's drift guard, pure: Recall@K of new interactions under fixed vectors, and the verdict."""

from __future__ import annotations

import pytest
import torch

from kgplatform.recommend.data import RecData
from kgplatform.recommend.drift import rec_drift_verdict, recall_on_new
from kgplatform.snapshot import SPLIT_TRAIN


def two_tastes() -> tuple[torch.Tensor, torch.Tensor, RecData]:
    """Items 0-2 point one way, items 3-5 the other; user 0 likes the first kind, user 1 the second. Each user
    already had one item of their kind."""
    entities = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.8, 0.2], [0.0, 1.0], [0.1, 0.9], [0.2, 0.8]])
    users = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    data = RecData(user_ids=["u0", "u1"], entity_ids=[f"i{i}" for i in range(6)], num_items=6,
                   entity_text=[""] * 6, rel_names=[], kg=torch.empty(0, 3, dtype=torch.long),
                   interactions=torch.tensor([[0, 0], [1, 3]]), split=torch.tensor([SPLIT_TRAIN, SPLIT_TRAIN]))
    return users, entities, data


def test_new_interactions_of_the_users_taste_are_recalled():
    users, entities, data = two_tastes()
    # top 2 after masking what each had: user 0 -> items 1, 2; user 1 -> items 4, 5
    got = recall_on_new(users, entities, data, torch.tensor([[0, 1], [0, 2], [1, 4]]), k=2)
    assert got == {"recall": 1.0, "pairs": 3, "users": 2, "repeats": 0}


def test_new_interactions_against_the_users_taste_are_missed_and_recall_averages_over_users():
    users, entities, data = two_tastes()
    got = recall_on_new(users, entities, data, torch.tensor([[0, 3], [0, 1], [1, 0], [1, 2]]), k=2)
    # user 0: 1 of 2 found (item 1 yes, item 3 no); user 1: 0 of 2
    assert got["recall"] == pytest.approx(0.25) and got["users"] == 2 and got["pairs"] == 4


def test_repeats_and_duplicates_are_left_out():
    users, entities, data = two_tastes()
    got = recall_on_new(users, entities, data, torch.tensor([[0, 0], [1, 3], [0, 1], [0, 1]]), k=2)
    assert got == {"recall": 1.0, "pairs": 1, "users": 1, "repeats": 2}
    nothing = recall_on_new(users, entities, data, torch.empty(0, 2, dtype=torch.long))
    assert nothing == {"recall": None, "pairs": 0, "users": 0, "repeats": 0}


def test_verdict_retrains_only_past_the_margin():
    drop = rec_drift_verdict(0.30, 0.40, 600, margin=0.05, min_count=500)
    assert drop["retrain"] and drop["verdict"] == "retrain"
    assert drop["threshold"] == pytest.approx(0.35)
    assert "0.300 is below the run's validation Recall@20 0.400 - margin 0.050 = 0.350" in drop["reasons"][0]
    within = rec_drift_verdict(0.36, 0.40, 600, margin=0.05, min_count=500)
    assert not within["retrain"] and within["verdict"] == "ok" and within["reasons"] == []
    better = rec_drift_verdict(0.55, 0.40, 600, margin=0.05, min_count=500)
    assert not better["retrain"]


def test_no_verdict_under_min_count_or_without_a_validation_figure():
    few = rec_drift_verdict(0.0, 0.40, 499, margin=0.05, min_count=500)
    assert not few["retrain"] and few["verdict"] == "too-few"
    assert "499 new interactions" in few["reasons"][0] and "needs 500" in few["reasons"][0]
    none = rec_drift_verdict(None, 0.40, 0, margin=0.05, min_count=1)
    assert none["verdict"] == "too-few"
    blind = rec_drift_verdict(0.0, None, 10_000, margin=0.05, min_count=500)
    assert not blind["retrain"] and blind["verdict"] == "no-validation"
