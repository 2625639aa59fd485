"""The recommender learns the planted world, ranks only unseen items, and its metrics mean what they say."""

from __future__ import annotations

import math

import pytest
import torch

from kgplatform.recommend.config import RecConfig
from kgplatform.recommend.data import RecData, leave_last_out
from kgplatform.recommend.evaluate import evaluate
from kgplatform.recommend.metrics import cold_item_mask, ctr_metrics, ranking_metrics
from kgplatform.recommend.rank import final_vectors, recommend_top_n, shard_users
from kgplatform.recommend.train import train_recommender
from kgplatform.snapshot import SPLIT_NONE, SPLIT_TEST, SPLIT_TRAIN, SPLIT_VALID
from tests.support.recsynth import planted_recdata

FAST = dict(dim=16, time_budget_s=60, max_epochs=150, patience=15, lr=0.02, batch_size=512, threads=2, use_text=False)


def popularity_scores(data: RecData):
    counts = torch.bincount(data.train_pairs()[:, 1], minlength=data.num_items).float()
    return lambda users: counts.repeat(len(users), 1)


@pytest.fixture(scope="module")
def planted():
    data = planted_recdata()
    result = train_recommender(data, RecConfig(**FAST))
    return data, result


def scorer(model):
    with torch.no_grad():
        users, entities = model.propagate()
    return lambda batch: users[batch] @ entities[: model.num_items].t()


def test_learns_the_planted_tastes_and_beats_popularity(planted):
    data, result = planted
    ours = evaluate(scorer(result.model), data)["test"]
    train, valid = data.train_pairs(), data.valid_pairs()
    popular = ranking_metrics(popularity_scores(data), data.test_pairs(), torch.cat([train, valid]), data.num_items)
    assert result.best_valid["recall@20"] > 0.5
    assert ours["recall@20"] > popular["recall@20"] + 0.2
    assert result.history and result.best_epoch >= 1


def test_cold_items_reach_their_brand_fans_through_the_graph(planted):
    data, result = planted
    ours = evaluate(scorer(result.model), data)["test"]
    assert ours["cold_pairs"] > 0
    assert ours["cold_recall@10"] > 0.5  # a cold item has only its brand edge to go by
    without_kg = train_recommender(data, RecConfig(**{**FAST, "use_kg": False, "alpha": 0.0}))
    assert ours["cold_recall@10"] > evaluate(scorer(without_kg.model), data)["test"]["cold_recall@10"]


def test_top_n_never_recommends_what_the_user_has(planted):
    data, result = planted
    users, entities = final_vectors(result.model, data)
    rows = recommend_top_n(users, entities, data, torch.arange(data.num_users), 5)
    known = set(map(tuple, data.interactions.tolist()))
    assert len(rows) == 5 * data.num_users
    assert not [r for r in rows if (r[0], r[1]) in known]
    by_user = {}
    for u, _, rank, score in rows:
        by_user.setdefault(u, []).append((rank, score))
    for ranked in by_user.values():
        assert [r for r, _ in ranked] == [1, 2, 3, 4, 5]
        assert [s for _, s in ranked] == sorted((s for _, s in ranked), reverse=True)


def test_top_n_stops_at_the_unseen_items():
    data = planted_recdata(groups=1, users_per_group=3, items_per_group=5, buys=3, cold_per_group=1)
    users, entities = torch.randn(data.num_users, 4), torch.randn(data.num_entities, 4)
    rows = recommend_top_n(users, entities, data, torch.tensor([0]), 50)
    seen = {i for u, i in data.interactions.tolist() if u == 0}
    assert sorted(i for _, i, _, _ in rows) == sorted(set(range(data.num_items)) - seen)


def test_shards_partition_the_users():
    shards = [shard_users(10, s, 3).tolist() for s in range(3)]
    assert sorted(u for s in shards for u in s) == list(range(10))
    with pytest.raises(ValueError):
        shard_users(10, 3, 3)


def test_ndcg_uses_the_ideal_dcg_over_all_test_items():
    # one user, test items {0, 1, 2}; the list ranks 0 first and 1, 2 outside the top 2
    score = lambda users: torch.tensor([[5.0, 1.0, 0.5, 4.0]])  # noqa: E731
    m = ranking_metrics(score, torch.tensor([[0, 0], [0, 1], [0, 2]]), torch.empty(0, 2, dtype=torch.long), 4,
                        ks=(2,))
    assert m["recall@2"] == pytest.approx(1 / 3)
    assert m["ndcg@2"] == pytest.approx(1.0 / (1.0 + 1 / math.log2(3)))  # KGIN: ideal over min(3, K) slots
    assert m["hit@2"] == 1.0 and m["coverage@2"] == 0.5


def test_cold_mask_and_ctr_threshold_from_valid():
    assert cold_item_mask(torch.tensor([[0, 0], [1, 0], [0, 1]]), 3).tolist() == [False, True, True]
    valid_s, valid_y = torch.tensor([0.9, 0.8, 0.3, 0.2]), torch.tensor([1, 1, 0, 0])
    out = ctr_metrics(valid_s, valid_y, torch.tensor([0.85, 0.1, 0.95, 0.4]), torch.tensor([1, 0, 1, 0]))
    assert out["auc"] == 1.0 and out["f1"] == 1.0 and 0.3 < out["threshold"] <= 0.81


def test_leave_last_out_holds_back_each_users_latest_two():
    data = RecData(user_ids=["a", "b"], entity_ids=["i0", "i1", "i2", "i3"], num_items=4, entity_text=[""] * 4,
                   rel_names=[], kg=torch.empty(0, 3, dtype=torch.long),
                   interactions=torch.tensor([[0, 0], [0, 1], [0, 2], [0, 3], [1, 0], [1, 1]]),
                   split=torch.full((6,), SPLIT_NONE), timestamp=torch.tensor([40, 10, 30, 20, 5, 6]))
    split = leave_last_out(data).tolist()
    assert split[:4] == [SPLIT_TEST, SPLIT_TRAIN, SPLIT_VALID, SPLIT_TRAIN]
    assert split[4:] == [SPLIT_TRAIN, SPLIT_TRAIN]  # two interactions: nothing to hold back


def test_recdata_refuses_inconsistent_tensors():
    with pytest.raises(ValueError, match="outside the item range"):
        RecData(user_ids=["a"], entity_ids=["i0"], num_items=1, entity_text=[""], rel_names=[],
                kg=torch.empty(0, 3, dtype=torch.long), interactions=torch.tensor([[0, 1]]),
                split=torch.tensor([SPLIT_TRAIN]))
