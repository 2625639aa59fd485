"""Pure pieces of the serving engine: how a named entity reaches items through the graph."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from kgplatform.recommend.data import RecData
from kgplatform.serving.engine import _linked_entities, _linked_items, linked_to


def test_a_named_category_reaches_its_own_items_and_its_subcategories_items():
    # items 0..3; 4 = category:audio, 5 = category:headphones (SUBCATEGORY_OF audio), 6 = brand
    entity_ids = ["p0", "p1", "p2", "p3", "category:audio", "category:headphones", "brand:b"]
    kg = torch.tensor([[0, 0, 5], [1, 0, 5], [2, 0, 4], [5, 1, 4], [3, 2, 6]])
    data = RecData(user_ids=["u"], entity_ids=entity_ids, num_items=4, entity_text=entity_ids,
                   rel_names=["IN_CATEGORY", "SUBCATEGORY_OF", "HAS_BRAND"], kg=kg,
                   interactions=torch.tensor([[0, 0]]), split=torch.tensor([0]))
    sm = SimpleNamespace(linked_items=_linked_items(data), linked_entities=_linked_entities(data), data=data)
    direct, two_hops = linked_to(sm, 4)  # audio
    assert direct.tolist() == [2] and two_hops.tolist() == [0, 1]
    direct, two_hops = linked_to(sm, 5)  # headphones: its items; audio's own item is one entity further
    assert direct.tolist() == [0, 1] and two_hops.tolist() == [2]
    direct, two_hops = linked_to(sm, 1)  # an item named in the query is itself a hit
    assert 1 in direct.tolist()
    assert linked_to(sm, 6)[0].tolist() == [3] and linked_to(sm, 6)[1].tolist() == []
