"""Checks of the recommendation API's statements, run on FalkorDB (tests/serving) and on a live Neo4j."""

from __future__ import annotations

from pathlib import Path

from kgplatform.graph.store import GraphStore, execute
from kgplatform.ingest.load import ingest_path
from kgplatform.pipeline.recdrift import new_behaviour
from tests.support.recfolders import STR_FILES, write_rec_folder


def check_serving_statements(store: GraphStore, tmp_path: Path) -> None:
    """Recording an interaction (idempotent; nothing for an unknown item), new items with their edges, recent
    behaviour."""
    ingest_path(store, write_rec_folder(tmp_path / "rec", STR_FILES))
    params = {"user": "user:new", "item": "product:B2", "timestamp": 5, "weight": None, "rating": None}
    first = execute(store, "serving/record_interaction", params, rel_type="INTERACTED")
    again = execute(store, "serving/record_interaction", params, rel_type="INTERACTED")
    assert (first[0]["created"], again[0]["created"]) == (1, 0)
    assert execute(store, "serving/record_interaction", {**params, "item": "nope"}, rel_type="INTERACTED") == []
    assert store.query("MATCH (u:User {id: 'user:new'}) RETURN count(u) AS n")[0]["n"] == 1
    everything = {"since": 0, "after": "", "labels": ["Product"], "limit": 10}
    items = execute(store, "serving/new_items", everything, read_only=True)
    assert {r["id"] for r in items} == {"product:A1", "product:B2", "product:C3"}
    cursor = {"since": items[0]["created_at"], "after": items[0]["id"], "labels": ["Product"], "limit": 10}
    later = execute(store, "serving/new_items", cursor, read_only=True)
    assert [r["id"] for r in later] == [r["id"] for r in items[1:]]  # keyset: same-millisecond items are not lost
    a1 = next(r for r in items if r["id"] == "product:A1")
    assert {(e["type"], e["other"], e["head"]) for e in a1["edges"]} == {
        ("HAS_BRAND", "brand:acme", True), ("IN_CATEGORY", "category:cards", True), ("ALSO_BOUGHT", "product:C3", True)}
    c3 = execute(store, "serving/items_by_id", {"ids": ["product:C3", "missing"]}, read_only=True)
    assert [(r["id"], [(e["type"], e["head"]) for e in r["edges"]]) for r in c3] == \
        [("product:C3", [("ALSO_BOUGHT", False)])]
    recent = new_behaviour(store, ["INTERACTED"], first[0]["now"] - 60_000)
    assert ("user:new", "product:B2") in {(r["user"], r["item"]) for r in recent}
