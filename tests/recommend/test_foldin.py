"""Fold-in: unchanged histories reproduce the batch vectors; new behaviour, new users and new items are placed
where the trained model would put them."""

from __future__ import annotations

import pytest
import torch

from kgplatform.recommend.config import RecConfig
from kgplatform.recommend.foldin import fold_in_basis, fold_in_user, new_item_vector
from kgplatform.recommend.rank import final_vectors
from kgplatform.recommend.train import train_recommender
from tests.support.recsynth import planted_recdata

FAST = dict(dim=16, time_budget_s=60, max_epochs=150, patience=15, lr=0.02, batch_size=512, threads=2, use_text=False)


@pytest.fixture(scope="module")
def trained():
    data = planted_recdata()
    model = train_recommender(data, RecConfig(**FAST)).model
    return data, model, fold_in_basis(model, data)


def items_of(data, user: int) -> torch.Tensor:
    return data.interactions[data.interactions[:, 0] == user, 1]


def group_items(data, group: int) -> torch.Tensor:
    return torch.tensor([i for i, e in enumerate(data.entity_ids[: data.num_items]) if e.startswith(f"item:{group}:")])


@pytest.mark.parametrize("loss", ["bpr", "softmax"])
def test_an_unchanged_history_gives_the_batch_vector(loss):
    data = planted_recdata()
    model = train_recommender(data, RecConfig(**{**FAST, "behaviour_loss": loss, "max_epochs": 5})).model
    basis = fold_in_basis(model, data)
    users, entities = final_vectors(model, data)
    for u in (0, 7, 33):
        assert torch.allclose(fold_in_user(basis, items_of(data, u), u), users[u], atol=1e-5)
    assert torch.allclose(basis.items_final, entities[: data.num_items], atol=1e-5)
    assert torch.allclose(basis.users_final, users, atol=1e-5)


def test_new_behaviour_moves_a_user_towards_the_new_taste(trained):
    data, model, basis = trained
    user = 0  # group 0
    other = group_items(data, 3)
    before = fold_in_user(basis, items_of(data, user), user) @ basis.items_final.t()
    after = fold_in_user(basis, torch.cat([items_of(data, user), other[:4]]), user) @ basis.items_final.t()
    gain = (after - before)[other[4:]].mean() - (after - before)[group_items(data, 1)].mean()
    assert gain > 0


def test_a_new_user_with_one_item_gets_that_items_group(trained):
    data, _, basis = trained
    first = group_items(data, 2)[0]
    scores = fold_in_user(basis, first.reshape(1)) @ basis.items_final.t()
    top = scores.topk(8).indices.tolist()
    assert sum(data.entity_ids[i].startswith("item:2:") for i in top) >= 6


def test_a_new_user_without_items_has_a_zero_vector(trained):
    _, _, basis = trained
    assert not fold_in_user(basis, torch.empty(0, dtype=torch.long)).any()


def test_a_new_item_with_a_brand_edge_lands_near_its_brands_fans(trained):
    data, model, basis = trained
    brand = data.entity_ids.index("brand:1")
    relation = data.rel_names.index("HAS_BRAND")  # item -[HAS_BRAND]-> brand: the message uses r
    vector = new_item_vector(model, basis, None, [(relation, brand)])
    users, _ = final_vectors(model, data)
    fans = [j for j, u in enumerate(data.user_ids) if u.startswith("user:1:")]
    others = [j for j, u in enumerate(data.user_ids) if not u.startswith("user:1:")]
    scores = users @ vector
    assert scores[fans].mean() > scores[others].mean()
    assert torch.equal(new_item_vector(model, basis, None, []), torch.zeros(FAST["dim"]))
