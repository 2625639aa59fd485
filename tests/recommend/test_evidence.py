"""Evidence strings for recommendations on a tiny hand-built RecData: the shared brand beats the broader shared
category, then a direct link, another two-hop path, the most similar item and popularity; bounded and stable."""

from __future__ import annotations

import torch

from kgplatform.recommend.data import RecData
from kgplatform.recommend.evidence import MAX_EVIDENCE, explain_recommendations
from kgplatform.snapshot import SPLIT_TEST, SPLIT_TRAIN

ITEMS = ["p:1", "p:2", "p:3", "p:4", "p:5", "p:6"]
OTHERS = ["b:1", "b:2", "c:1", "c:2"]
TEXT = ["Sonique Buds\nIn-ear buds", "Sonique Cable", "Kettlo Kettle", "Kettlo Lamp", "Mystery Speaker",
        "Odd \"quoted\"\nsecond line", "Sonique", "Kettlo", "Audio", "Kitchen"]
RELS = ["BOUGHT_TOGETHER", "HAS_BRAND", "IN_CATEGORY", "MADE_BY"]
E = {name: i for i, name in enumerate(ITEMS + OTHERS)}
R = {name: i for i, name in enumerate(RELS)}
KG = [("p:1", "HAS_BRAND", "b:1"), ("p:2", "HAS_BRAND", "b:1"),  # p:1 and p:2 share a brand (2 items)
      ("p:1", "IN_CATEGORY", "c:1"), ("p:2", "IN_CATEGORY", "c:1"), ("p:3", "IN_CATEGORY", "c:1"),  # 3 items
      ("p:1", "BOUGHT_TOGETHER", "p:5"),  # a direct link
      ("p:3", "HAS_BRAND", "b:2"), ("b:2", "MADE_BY", "p:4")]  # p:3 -> b:2 <- p:4 by other relations
USERS = ["u:1", "u:2", "u:3", "u:4"]
INTERACTIONS = [(0, 0, SPLIT_TRAIN, 0), (1, 2, SPLIT_TRAIN, 1), (2, 4, SPLIT_TRAIN, 0), (3, 4, SPLIT_TRAIN, 0),
                (2, 5, SPLIT_TEST, 0), (0, 1, SPLIT_TEST, 0)]


def data() -> RecData:
    kg = torch.tensor([(E[h], R[r], E[t]) for h, r, t in KG], dtype=torch.long)
    return RecData(user_ids=USERS, entity_ids=ITEMS + OTHERS, num_items=len(ITEMS), entity_text=TEXT,
                   rel_names=RELS, kg=kg, interactions=torch.tensor([(u, i) for u, i, _, _ in INTERACTIONS]),
                   split=torch.tensor([s for _, _, s, _ in INTERACTIONS]),
                   behaviour=torch.tensor([b for _, _, _, b in INTERACTIONS]),
                   behaviour_names=["PURCHASED", "VIEWED"])


def train_items(d: RecData) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for u, i in d.train_pairs().tolist():
        out.setdefault(u, []).append(i)
    return out


def test_the_most_specific_shared_neighbour_wins():
    d = data()
    got = explain_recommendations(d, train_items(d), [(0, 1), (0, 2)], None)
    # p:2 shares brand b:1 (2 items) and category c:1 (3 items) with p:1: the brand is more specific
    assert got[0] == ('user:u:1 -[:PURCHASED]-> item:p:1 "Sonique Buds" -[:HAS_BRAND]-> entity:b:1 "Sonique" '
                      '<-[:HAS_BRAND]- item:p:2 "Sonique Cable"')
    assert got[1] == ('user:u:1 -[:PURCHASED]-> item:p:1 "Sonique Buds" -[:IN_CATEGORY]-> entity:c:1 "Audio" '
                      '<-[:IN_CATEGORY]- item:p:3 "Kettlo Kettle"')


def test_direct_link_then_other_two_hop_path_with_the_users_behaviour():
    d = data()
    got = explain_recommendations(d, train_items(d), [(0, 4), (1, 3)], None)
    assert got[0] == 'user:u:1 -[:PURCHASED]-> item:p:1 "Sonique Buds" -[:BOUGHT_TOGETHER]-> item:p:5 "Mystery Speaker"'
    assert got[1] == ('user:u:2 -[:VIEWED]-> item:p:3 "Kettlo Kettle" -[:HAS_BRAND]-> entity:b:2 "Kettlo" '
                      '-[:MADE_BY]-> item:p:4 "Kettlo Lamp"')


def test_fallbacks_most_similar_item_then_popular():
    d = data()
    vectors = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [0.0, 1.0], [1.0, 0.1], [0.8, 0.6]])
    items = train_items(d)
    # u:3 interacted with p:5 only, which shares nothing with p:6 in the KG
    got = explain_recommendations(d, items, [(2, 5)], vectors)
    assert got == ['most similar item you interacted with: item:p:5 "Mystery Speaker" (cosine 0.86)']
    # of two items, the closer one (p:1 is at cosine 0.80)
    assert explain_recommendations(d, {2: [0, 4]}, [(2, 5)], vectors) == got
    assert explain_recommendations(d, items, [(2, 5)], None) == [
        "popular: 0 users interacted with item:p:6 \"Odd 'quoted'\""]
    # a user without train items: popularity over the train split (u:3 and u:4 had p:5)
    assert explain_recommendations(d, {}, [(3, 4)], vectors) == [
        'popular: 2 users interacted with item:p:5 "Mystery Speaker"']


def test_order_is_kept_output_is_deterministic_and_bounded():
    d = data()
    recs = [(1, 3), (0, 1), (2, 5), (0, 2), (0, 4)]
    first = explain_recommendations(d, train_items(d), recs, None)
    assert first == explain_recommendations(d, train_items(d), recs, None)
    assert first[1].endswith('item:p:2 "Sonique Cable"') and first[4].endswith('item:p:5 "Mystery Speaker"')
    assert explain_recommendations(d, train_items(d), [], None) == []
    long = data()
    long.entity_ids = [i * 300 for i in long.entity_ids]
    long.user_ids = ["u" * 1000 for _ in long.user_ids]
    long.rel_names = [r * 50 for r in long.rel_names]
    got = explain_recommendations(long, train_items(long), [(0, 1), (2, 5)], None)
    assert all(len(s) <= MAX_EVIDENCE for s in got) and got[0].startswith("user:uuu")
    assert "\n" not in "".join(got)


def test_ties_between_equally_specific_neighbours_break_on_relation_then_entity():
    d = data()
    # p:1 and p:2 now also share c:2 through IN_CATEGORY, as specific as brand b:1: HAS_BRAND < IN_CATEGORY wins
    extra = torch.tensor([(E["p:1"], R["IN_CATEGORY"], E["c:2"]), (E["p:2"], R["IN_CATEGORY"], E["c:2"])])
    d.kg = torch.cat([d.kg, extra])
    assert "-[:HAS_BRAND]-> entity:b:1" in explain_recommendations(d, train_items(d), [(0, 1)], None)[0]
    d.kg = d.kg[d.kg[:, 1] != R["HAS_BRAND"]]  # without the brand: c:2 (2 items) beats c:1 (3 items)
    assert "-[:IN_CATEGORY]-> entity:c:2" in explain_recommendations(d, train_items(d), [(0, 1)], None)[0]
