"""The serving service on a real FalkorDB: the served model agrees with the batch run, behaviour recorded through it
changes that user's recommendations at once, new people and new products are served without retraining, keyword
queries use text and graph, and a newer run is swapped in."""

from __future__ import annotations

import numpy as np

from kgplatform.pipeline.recsteps import run_recommend_pipeline
from kgplatform.pipeline.rundir import RunDir
from kgplatform.serving.service import NotFound, RecommendationService
from tests.serving.conftest import SERVED_CFG
from tests.support.recsynth import planted_world

WORLD = planted_world()


def group_of(item: str) -> int:
    return int(item.split(":")[1])


def had(user: str) -> set[str]:
    return {i for rows in WORLD["interactions"].values() for u, i in rows if u == user}


def test_a_known_user_gets_what_the_batch_run_wrote(service, served):
    settings, _, summary = served
    run_id = service.describe()["run_id"]
    written = RunDir.of(settings.runs_dir, run_id).read_jsonl(RunDir.RECOMMENDATIONS)  # other tests retrain later
    for user in ("user:0:1", "user:2:5"):
        live = service.recommendations(user, 5, explain=False)
        assert live["basis"] == "model"
        assert [r["item"] for r in live["items"]] == [r["item"] for r in written if r["user"] == user]
        assert not {r["item"] for r in live["items"]} & had(user)


def test_an_interaction_is_written_and_moves_that_users_recommendations(service, served):
    _, store, _ = served
    user = "user:0:3"
    before = [r["item"] for r in service.recommendations(user, 10, explain=False)["items"]]
    assert sum(group_of(i) == 2 for i in before) <= 2
    targets = [i for i in WORLD["items"] if group_of(i) == 2 and i not in had(user)][:4]
    for n, item in enumerate(targets):
        assert service.record(user, item, "interacted", 1_700_000_000_000 + n, 1.0, None)["created"]
    after = service.recommendations(user, 10, explain=True)
    assert after["basis"] == "folded-in"
    assert sum(group_of(r["item"]) == 2 for r in after["items"]) > sum(group_of(i) == 2 for i in before)
    assert not {r["item"] for r in after["items"]} & set(targets)
    assert all(r["evidence"] for r in after["items"])
    rows = store.query("MATCH (:User {id: $u})-[r:INTERACTED]->(t:Entity {id: $t}) RETURN r.timestamp AS ts",
                       {"u": user, "t": targets[0]})
    assert [r["ts"] for r in rows] == [1_700_000_000_000]
    assert not service.record(user, targets[0], None, 1_700_000_000_000, 1.0, None)["created"]  # a retry


def test_behaviour_another_writer_put_in_the_store_counts_at_the_next_poll(service, served):
    from kgplatform.ingest.behaviour import BehaviourRow
    from kgplatform.ingest.load_behaviour import load_behaviour

    _, store, _ = served
    user = "user:1:7"
    before = [r["item"] for r in service.recommendations(user, 10, explain=False)["items"]]
    targets = [i for i in WORLD["items"] if group_of(i) == 3 and i not in had(user)][:4]
    load_behaviour(store, [BehaviourRow(user=user, item=i, timestamp=1_700_000_000_000) for i in targets])
    assert service.add_new_behaviour() >= len(targets)
    after = service.recommendations(user, 10, explain=False)
    assert after["basis"] == "folded-in"
    assert sum(group_of(r["item"]) == 3 for r in after["items"]) > sum(group_of(i) == 3 for i in before)
    assert service.add_new_behaviour() == 0  # read once


def test_a_new_user_with_one_interaction_gets_its_taste_group(service):
    first = next(i for i in WORLD["items"] if group_of(i) == 3)
    service.record("visitor:1", first, None, 1_700_000_000_000, None, None)
    recs = service.recommendations("visitor:1", 6, explain=True)
    assert recs["basis"] == "folded-in"
    assert sum(group_of(r["item"]) == 3 for r in recs["items"]) >= 5
    assert "HAS_BRAND" in recs["items"][0]["evidence"]


def test_someone_unknown_gets_popular_items_said_so(service):
    recs = service.recommendations("nobody-yet", 5, explain=True)
    assert recs["basis"] == "popularity" and len(recs["items"]) == 5
    assert all(r["evidence"].startswith("popular") for r in recs["items"])


def test_unknown_items_are_not_found(service):
    for call in (lambda: service.similar("no-such-item", 5),
                 lambda: service.record("u", "no-such-item", None, 1, None, None)):
        try:
            call()
        except NotFound as exc:
            assert "no-such-item" in str(exc)
        else:
            raise AssertionError("expected NotFound")


def test_similar_items_share_the_brand(service):
    similar = service.similar("item:1:0", 5)["items"]
    assert len(similar) == 5 and "item:1:0" not in {r["item"] for r in similar}
    assert sum(group_of(r["item"]) == 1 for r in similar) >= 4


def test_keyword_search_uses_the_named_brand_and_text(service):
    found = service.search("Brand brand:2", 8)
    assert found["named_entities"] == ["brand:2"]
    assert all(group_of(r["item"]) == 2 and r["linked"] for r in found["items"])
    plain = service.search("zzqx", 3)
    assert plain["named_entities"] == [] and len(plain["items"]) == 3


def test_keyword_recommendations_for_a_visitor_and_for_a_known_user(service):
    visitor = service.keyword_recommendations("Brand brand:1", None, 6)
    assert visitor["basis"] == "query"
    assert sum(group_of(r["item"]) == 1 for r in visitor["items"]) >= 5
    user = "user:1:2"
    personal = service.keyword_recommendations("Brand brand:1", user, 6)
    assert personal["basis"] == "model"
    assert not {r["item"] for r in personal["items"]} & had(user)


def test_a_new_product_is_served_at_once_through_its_brand(service, served):
    _, store, _ = served
    size = service.describe()["items"]
    # as any writer of the store adds one (ingest stamps created_at the same way)
    store.query("MATCH (b:Entity {id: 'brand:1'}) CREATE (n:Entity:Product {id: 'item:new:1', name: 'Product "
                "item:new:1', description: 'just in', created_at: timestamp(), updated_at: timestamp()})"
                "-[:HAS_BRAND]->(b)")
    assert service.add_new_items() == 1
    assert service.describe()["items"] == size + 1 == len(service.live.model.index)
    assert service.add_new_items() == 0  # idempotent
    live = service.live
    row = live.catalog.row("item:new:1")
    vector = live.catalog.vectors[row]
    fans = [live.model.users[u] for u in WORLD["users"] if u.startswith("user:1:")]
    others = [live.model.users[u] for u in WORLD["users"] if not u.startswith("user:1:")]
    scores = live.model.user_vectors @ vector
    assert np.mean(scores[fans]) > np.mean(scores[others])
    recs = service.recommendations("user:1:4", size + 1, explain=True)["items"]
    new = next(r for r in recs if r["item"] == "item:new:1")
    assert new["evidence"].startswith("new product")
    other_brands = [r["rank"] for r in recs if r["item"] != "item:new:1" and group_of(r["item"]) != 1]
    assert new["rank"] < np.median(other_brands)
    assert service.similar("item:new:1", 3)["items"]


def test_a_newer_run_is_swapped_in_and_what_it_learnt_is_no_longer_folded_in(served):
    settings, store, summary = served
    service = RecommendationService(settings, store, lambda texts: np.zeros((len(texts), 0), np.float32))
    old = service.describe()["run_id"]
    assert not service.reload()  # nothing newer
    first = next(i for i in WORLD["items"] if group_of(i) == 0)
    service.record("visitor:swap", first, None, 1_700_000_000_123, None, None)
    assert service.recommendations("visitor:swap", 5, False)["basis"] == "folded-in"
    newer = run_recommend_pipeline(store, settings, SERVED_CFG)
    assert service.reload()
    assert service.describe()["run_id"] == newer["run_id"] != old
    assert service.recorded_items("visitor:swap") == []  # the new run read it from the store
    assert service.recommendations("visitor:swap", 5, False)["basis"] == "model"


def test_the_serving_statements_on_falkordb(store, tmp_path):
    from tests.support.serving import check_serving_statements

    check_serving_statements(store, tmp_path)
