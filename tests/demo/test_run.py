"""`kgp demo` end to end on the embedded store: what it prints is what is in the graph."""

from __future__ import annotations

import math

from kgplatform.demo.run import run_demo
from kgplatform.graph.store import open_store

PROVENANCE = ["predicted", "score", "probability", "status", "run_id", "model", "created_at", "method", "evidence"]


def test_demo_writes_edges_with_provenance_and_recovers_held_back_links(base_settings):
    report = run_demo(base_settings, time_budget=30, quiet=True)
    store = open_store(base_settings, graph=report["graph"])
    rows = store.query("MATCH ()-[r]->() WHERE r.run_id = $run RETURN type(r) AS type, properties(r) AS props",
                       {"run": report["run_id"]})
    assert len(rows) == report["recovery"]["written"] == sum(report["written_per_type"].values()) > 0
    assert all(all(key in r["props"] for key in PROVENANCE) for r in rows)
    assert report["recovery"]["recovered"] > 0
    assert report["recovery"]["precision"] >= 0.7  # against the generator's own held-back truth
    assert "MATCH" in report["inspect_cypher"] and report["run_id"] in report["inspect_cypher"]
    check_recommendations(store, report["recommend"])
    again = run_demo(base_settings, time_budget=3, quiet=True)  # the demo graph is rebuilt, not accumulated
    assert store.query("MATCH (r:KgpRun) RETURN count(r) AS n") == [{"n": 2}]  # link prediction, recommendation
    assert again["catalog"] == report["catalog"]
    assert again["recommend"]["interactions"] == report["recommend"]["interactions"]


def check_recommendations(store, rec: dict) -> None:
    """One person's list as the graph holds it, with evidence; ours and popularity on the held-back purchases."""
    assert rec["people"] == rec["test_users"] == 300 and rec["recommendations"] == 300 * 20
    example = rec["example"]
    shown = example["recommendations"]
    assert len(shown) == 10 and [r["rank"] for r in shown] == list(range(1, 11))
    assert all(r["evidence"] and r["item"].startswith("product:") for r in shown)
    bought = {h["item"] for h in example["history"]}
    assert not bought & {r["item"] for r in shown}  # never what the person already has
    rows = store.query("MATCH (:User {id: $user})-[r:RECOMMENDED]->(p:Entity) RETURN p.id AS item, r.rank AS rank, "
                       "r.evidence AS evidence, r.run_id AS run ORDER BY rank", {"user": example["user"]})
    assert len(rows) == 20 and {r["run"] for r in rows} == {rec["run_id"]}
    assert [(r["item"], r["evidence"]) for r in rows[:10]] == [(r["item"], r["evidence"]) for r in shown]
    for metric in ("recall@20", "ndcg@20", "taste_match@20"):
        assert set(rec[metric]) == {"ours", "popularity"}
        assert all(math.isfinite(v) and 0 <= v <= 1 for v in rec[metric].values()), (metric, rec[metric])
    assert rec["recall@20"]["ours"] > rec["recall@20"]["popularity"] > 0
    assert example["user"] in rec["inspect_cypher"] and "RECOMMENDED" in rec["inspect_cypher"]
