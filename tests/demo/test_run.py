"""`kgp demo` end to end on the embedded store: what it prints is what is in the graph."""

from __future__ import annotations

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
    again = run_demo(base_settings, time_budget=3, quiet=True)  # the demo graph is rebuilt, not accumulated
    assert store.query("MATCH (r:KgpRun) RETURN count(r) AS n") == [{"n": 1}]
    assert again["catalog"] == report["catalog"]
