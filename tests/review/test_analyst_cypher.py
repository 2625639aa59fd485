"""The analyst Cypher library (cypher/analyst/*.cypher) on a real FalkorDB graph with asserted edges, the
predicted edges of two runs, people with behaviour and two recommendation runs; declared parameters;
`kgp cypher --file analyst/...` with typed parameters."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser

import pytest

from kgplatform.errors import KgpError
from kgplatform.graph import cypher_files
from kgplatform.graph.recommendations import write_recommendations
from kgplatform.graph.runs import record_run
from kgplatform.graph.writeback import write_predictions
from kgplatform.ingest.load import ingest_path
from kgplatform.review.analyst import analyst_queries, declared_params, execute_analyst, prepare_params, used_params
from tests.support.env import REPO, run_kgp

CATALOG = [
    {"kind": "brand", "id": "b:1", "name": "Sonique"}, {"kind": "brand", "id": "b:2", "name": "Kettlo"},
    {"kind": "category", "id": "c:1", "name": "Audio"}, {"kind": "category", "id": "c:2", "name": "Kitchen"},
    {"kind": "product", "id": "p:1", "name": "Sonique Buds", "brand": "b:1", "category": "c:1"},
    {"kind": "product", "id": "p:2", "name": "Sonique Cable", "category": "c:1"},
    {"kind": "product", "id": "p:3", "name": "Kettlo Kettle", "brand": "b:2"},
    {"kind": "product", "id": "p:4", "name": "Kettlo Toaster", "category": "c:2"},
    {"kind": "product", "id": "p:5", "name": "Mystery Speaker"},
    {"kind": "relation", "head": "p:1", "type": "BOUGHT_TOGETHER", "tail": "p:2"},
    {"kind": "relation", "head": "p:3", "type": "BOUGHT_TOGETHER", "tail": "p:4"},
]
RUN_A = [  # (head, type, tail, probability)
    ("p:2", "HAS_BRAND", "b:1", 0.94), ("p:3", "IN_CATEGORY", "c:2", 0.91), ("p:4", "HAS_BRAND", "b:2", 0.88),
    ("p:5", "IN_CATEGORY", "c:1", 0.55),
]
RUN_B = [("p:2", "HAS_BRAND", "b:1", 0.80), ("p:4", "HAS_BRAND", "b:2", 0.95), ("p:5", "HAS_BRAND", "b:1", 0.62)]
# People: behaviour (asserted) and two recommendation runs; rec-b is written beside rec-a (replace=False) so that
# the two can be compared. u:3 touches p:1 and p:2: a path through a person is no evidence for a catalogue fact.
BEHAVIOUR = [("u:1", "PURCHASED", "p:1"), ("u:2", "VIEWED", "p:3"), ("u:2", "PURCHASED", "p:4"),
             ("u:3", "RATED", "p:1"), ("u:3", "PURCHASED", "p:2"), ("u:2", "SAMPLED_NEGATIVE", "p:1")]
REC_A = [("u:1", "p:2", 1, 0.9), ("u:1", "p:5", 2, 0.5), ("u:2", "p:1", 1, 0.7)]  # (user, item, rank, score)
REC_B = [("u:1", "p:5", 1, 0.8), ("u:1", "p:3", 2, 0.6)]

# Parameters every analyst file runs with in the smoke test; a new file without an entry here fails the suite.
EXAMPLES = {
    "analyst/proposed_edges": {},
    "analyst/run_edges": {"run_id": "run-a"},
    "analyst/run_diff": {"run_a": "run-a", "run_b": "run-b"},
    "analyst/coverage": {"run_id": "run-a"},
    "analyst/product_predictions": {"id": "p:5"},
    "analyst/evidence_paths": {"head": "p:2", "rel_type": "HAS_BRAND", "tail": "b:1"},
    "analyst/run_summary": {"run_id": "run-a"},
    "analyst/runs": {},
    "analyst/run_graph": {"run_id": "run-a"},
    "analyst/neighbourhood": {"id": "p:2"},
    "analyst/new_arrivals": {},
    "analyst/user_recommendations": {"user": "u:1"},
    "analyst/product_audience": {"id": "p:5"},
    "analyst/recommendation_coverage": {},
    "analyst/recommendation_run_diff": {"run_a": "rec-a", "run_b": "rec-b"},
}


def predictions(rows):
    return [{"head": h, "rel_type": t, "tail": x, "score": p * 4, "probability": p, "evidence": f"{h}->{x}"}
            for h, t, x, p in rows]


@pytest.fixture
def graph(store, tmp_path):
    """Asserted catalog + run-a (one edge rejected by a reviewer) + run-b (one edge accepted)."""
    path = tmp_path / "catalog.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in CATALOG))
    ingest_path(store, path)
    for run_id, rows in (("run-a", RUN_A), ("run-b", RUN_B)):
        record_run(store, run_id=run_id, model="m@1", config={}, metrics={}, counts={"predicted": len(rows)},
                   status="completed", snapshot_hash="h", method="text+gnn")
        write_predictions(store, predictions(rows), run_id=run_id, model="m@1", method="text+gnn")
    store.query("MATCH (:Entity {id: 'p:5'})-[r:IN_CATEGORY]->(:Entity {id: 'c:1'}) WHERE r.run_id = 'run-a' "
                "SET r.status = 'rejected', r.reviewed_by = 'ann'")
    store.query("MATCH (:Entity {id: 'p:4'})-[r:HAS_BRAND]->(:Entity {id: 'b:2'}) WHERE r.run_id = 'run-b' "
                "SET r.status = 'accepted', r.reviewed_by = 'bob'")
    for user, behaviour, item in BEHAVIOUR:
        store.query(f"MERGE (u:User {{id: $user}}) WITH u MATCH (p:Entity {{id: $item}}) "
                    f"CREATE (u)-[:{behaviour} {{timestamp: 1700000000000, rating: 5}}]->(p)",
                    {"user": user, "item": item})
    for run_id, rows, replace in (("rec-a", REC_A, True), ("rec-b", REC_B, False)):
        record_run(store, run_id=run_id, model="rec@1", config={}, metrics={}, counts={"recommended": len(rows)},
                   status="completed", snapshot_hash="h", method="kgrec")
        write_recommendations(store, [{"user": u, "item": i, "rank": k, "score": s, "evidence": f"{u}->{i}"}
                                      for u, i, k, s in rows], run_id=run_id, model="rec@1", method="kgrec",
                              replace=replace)
    return store


def keys(rows, *cols):
    return [tuple(r[c] for c in cols) for r in rows]


# ---- the library as files --------------------------------------------------------------------------------------

def test_every_analyst_file_has_a_header_and_declares_exactly_what_it_uses():
    names = analyst_queries()
    assert set(names) == set(EXAMPLES), "add an example (and a test) for each new analyst query"
    for name in names:
        header = cypher_files.header(name).splitlines()
        assert header and not header[0].startswith("@param") and len(header[0]) > 20, f"{name}: purpose line"
        declared = declared_params(name)
        assert set(declared) == used_params(cypher_files.load(name)), name
        assert all(p.doc for p in declared.values()), name


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_analyst_file_runs_read_only_on_the_embedded_store(graph, name):
    rows = execute_analyst(graph, name, **EXAMPLES[name])
    assert rows, f"{name} returned no rows on the fixture graph"


# ---- each query's results ---------------------------------------------------------------------------------------

def test_proposed_edges_filters_and_orders(graph):
    rows = execute_analyst(graph, "proposed_edges")
    # accepted (p:4 b:2 of run-b) and rejected (p:5 c:1 of run-a) edges are not awaiting review
    assert keys(rows, "head", "rel_type", "tail", "run_id") == [
        ("p:2", "HAS_BRAND", "b:1", "run-a"), ("p:3", "IN_CATEGORY", "c:2", "run-a"),
        ("p:4", "HAS_BRAND", "b:2", "run-a"), ("p:2", "HAS_BRAND", "b:1", "run-b"),
        ("p:5", "HAS_BRAND", "b:1", "run-b")]
    assert [r["probability"] for r in rows] == pytest.approx([0.94, 0.91, 0.88, 0.80, 0.62])
    assert rows[0]["head_name"] == "Sonique Cable" and rows[0]["tail_name"] == "Sonique"
    assert rows[0]["evidence"] == "p:2->b:1" and rows[0]["model"] == "m@1"
    brand = execute_analyst(graph, "proposed_edges", rel_type="HAS_BRAND", min_probability=0.85)
    assert keys(brand, "head", "run_id") == [("p:2", "run-a"), ("p:4", "run-a")]
    assert keys(execute_analyst(graph, "proposed_edges", run_id="run-b", limit=1), "head", "tail") == [("p:2", "b:1")]


def test_new_arrivals_lists_new_entities_with_their_incremental_links(graph):
    write_predictions(graph, predictions([("p:5", "HAS_BRAND", "b:2", 0.97)]), run_id="inc-1", model="m@1",
                      method="incremental")
    rows = execute_analyst(graph, "new_arrivals", label="Product")
    assert {r["id"] for r in rows} == {"p:1", "p:2", "p:3", "p:4", "p:5"}
    links = {r["id"]: r["links"] for r in rows}
    assert links["p:5"] == [{"rel_type": "HAS_BRAND", "tail": "b:2", "tail_name": "Kettlo", "probability": 0.97,
                             "status": "proposed", "run_id": "inc-1"}]
    assert all(links[i] == [] for i in ("p:1", "p:2", "p:3", "p:4"))  # run-a/run-b edges are not incremental
    assert execute_analyst(graph, "new_arrivals", since=max(r["created_at"] for r in rows)) == []


def test_run_edges_lists_one_run_with_review_state(graph):
    rows = execute_analyst(graph, "run_edges", run_id="run-a")
    assert keys(rows, "rel_type", "head", "tail", "status") == [
        ("HAS_BRAND", "p:2", "b:1", "proposed"), ("HAS_BRAND", "p:4", "b:2", "proposed"),
        ("IN_CATEGORY", "p:3", "c:2", "proposed"), ("IN_CATEGORY", "p:5", "c:1", "rejected")]
    assert rows[3]["reviewed_by"] == "ann" and rows[0]["created_at"] > 1.6e12
    assert keys(execute_analyst(graph, "run_edges", run_id="run-b", status="accepted"), "head") == [("p:4",)]
    assert execute_analyst(graph, "run_edges", run_id="run-b", rel_type="IN_CATEGORY") == []


def test_run_diff_splits_edges_into_only_a_only_b_and_both(graph):
    rows = execute_analyst(graph, "run_diff", run_a="run-a", run_b="run-b")
    got = {(r["head"], r["rel_type"], r["tail"]): r for r in rows}
    assert {k: r["diff"] for k, r in got.items()} == {
        ("p:2", "HAS_BRAND", "b:1"): "both", ("p:4", "HAS_BRAND", "b:2"): "both",
        ("p:3", "IN_CATEGORY", "c:2"): "only_a", ("p:5", "IN_CATEGORY", "c:1"): "only_a",
        ("p:5", "HAS_BRAND", "b:1"): "only_b"}
    assert got[("p:2", "HAS_BRAND", "b:1")]["change"] == pytest.approx(-0.14)
    assert got[("p:4", "HAS_BRAND", "b:2")]["change"] == pytest.approx(0.07)
    assert got[("p:4", "HAS_BRAND", "b:2")]["status_b"] == "accepted"
    only_a = got[("p:3", "IN_CATEGORY", "c:2")]
    assert only_a["probability_b"] is None and only_a["change"] is None and only_a["probability_a"] == 0.91
    assert [r["diff"] for r in rows] == sorted(r["diff"] for r in rows)  # grouped: both, only_a, only_b


def test_coverage_before_and_after_a_run(graph):
    rows = {r["rel_type"]: r for r in execute_analyst(graph, "coverage", run_id="run-a")}
    assert set(rows) == {"HAS_BRAND", "IN_CATEGORY"}  # the types run-a predicted
    brand, cat = rows["HAS_BRAND"], rows["IN_CATEGORY"]
    # 5 products; asserted brands: p:1, p:3. run-a adds p:2 and p:4.
    assert (brand["nodes"], brand["lacking_before"], brand["lacking_after"], brand["filled_by_run"]) == (5, 3, 1, 2)
    assert brand["coverage_before"] == pytest.approx(0.4) and brand["coverage_after"] == pytest.approx(0.8)
    # asserted categories: p:1, p:2, p:4. run-a adds p:3; its p:5 edge was rejected, so p:5 still lacks one.
    assert (cat["lacking_before"], cat["lacking_after"]) == (2, 1)
    b = execute_analyst(graph, "coverage", run_id="run-b", rel_types=["HAS_BRAND", "BOUGHT_TOGETHER"])
    assert keys(b, "rel_type", "lacking_before", "lacking_after") == [("BOUGHT_TOGETHER", 3, 3), ("HAS_BRAND", 3, 0)]
    brands = execute_analyst(graph, "coverage", run_id="run-b", rel_types=["HAS_BRAND"], label="Brand")
    assert keys(brands, "nodes", "lacking_before") == [(2, 2)]


def test_product_predictions_in_both_directions(graph):
    rows = execute_analyst(graph, "product_predictions", id="p:5")
    assert keys(rows, "rel_type", "direction", "other", "status") == [("HAS_BRAND", "out", "b:1", "proposed")]
    with_rejected = execute_analyst(graph, "product_predictions", id="p:5", include_rejected=True)
    assert keys(with_rejected, "rel_type", "other", "status") == [
        ("HAS_BRAND", "b:1", "proposed"), ("IN_CATEGORY", "c:1", "rejected")]
    brand = execute_analyst(graph, "product_predictions", id="b:1", limit=2)
    assert keys(brand, "direction", "other", "run_id") == [("in", "p:2", "run-a"), ("in", "p:2", "run-b")]


def test_evidence_paths_use_asserted_edges_only(graph):
    rows = execute_analyst(graph, "evidence_paths", head="p:2", rel_type="HAS_BRAND", tail="b:1", run_id="run-a")
    assert [r["path"] for r in rows] == [
        "p:2 <-[BOUGHT_TOGETHER]- p:1 -[HAS_BRAND]-> b:1",
        "p:2 -[IN_CATEGORY]-> c:1 <-[IN_CATEGORY]- p:1 -[HAS_BRAND]-> b:1"]
    assert [r["hops"] for r in rows] == [2, 3] and rows[0]["names"] == ["Sonique Cable", "Sonique Buds", "Sonique"]
    assert [n["id"] for n in rows[0]["graph"]] == ["p:2", "p:1", "b:1"]
    kettle = execute_analyst(graph, "evidence_paths", head="p:4", rel_type="HAS_BRAND", tail="b:2")
    assert [r["path"] for r in kettle] == ["p:4 <-[BOUGHT_TOGETHER]- p:3 -[HAS_BRAND]-> b:2"]
    # p:5 has no asserted edge: the 3-hop route through its (predicted, rejected) IN_CATEGORY edge does not count
    assert execute_analyst(graph, "evidence_paths", head="p:5", rel_type="HAS_BRAND", tail="b:1") == []
    # no such predicted edge: nothing to explain
    assert execute_analyst(graph, "evidence_paths", head="p:1", rel_type="HAS_BRAND", tail="b:1") == []
    assert len(execute_analyst(graph, "evidence_paths", head="p:2", rel_type="HAS_BRAND", tail="b:1", limit=1)) == 1


def test_run_summary_runs_run_graph_and_neighbourhood(graph):
    summary = execute_analyst(graph, "run_summary", run_id="run-a")
    assert keys(summary, "rel_type", "edges", "proposed", "accepted", "rejected") == [
        ("HAS_BRAND", 2, 2, 0, 0), ("IN_CATEGORY", 2, 1, 0, 1)]
    assert summary[0]["mean_probability"] == pytest.approx(0.91) and summary[1]["min_probability"] == 0.55
    runs = execute_analyst(graph, "runs")
    assert sorted(r["run_id"] for r in runs) == ["rec-a", "rec-b", "run-a", "run-b"]
    assert len(execute_analyst(graph, "runs", limit=1)) == 1
    assert json.loads(next(r for r in runs if r["run_id"] == "run-a")["counts"])["predicted"] == 4
    drawn = execute_analyst(graph, "run_graph", run_id="run-a", status="proposed")
    assert [(r["h"]["id"], r["r"]["type"], r["t"]["id"]) for r in drawn] == [
        ("p:2", "HAS_BRAND", "b:1"), ("p:3", "IN_CATEGORY", "c:2"), ("p:4", "HAS_BRAND", "b:2")]
    assert drawn[0]["r"]["probability"] == 0.94 and drawn[0]["r"]["status"] == "proposed"
    around = execute_analyst(graph, "neighbourhood", id="p:2")
    rels = sorted((r["r"]["type"], r["m"]["id"], r["r"].get("run_id")) for r in around)
    assert rels == [("BOUGHT_TOGETHER", "p:1", None), ("HAS_BRAND", "b:1", "run-a"), ("HAS_BRAND", "b:1", "run-b"),
                    ("IN_CATEGORY", "c:1", None)]


def test_user_recommendations_newest_run_or_the_one_asked_for(graph):
    rows = execute_analyst(graph, "user_recommendations", user="u:1")
    assert keys(rows, "rank", "item", "name", "run_id") == [(1, "p:5", "Mystery Speaker", "rec-b"),
                                                             (2, "p:3", "Kettlo Kettle", "rec-b")]
    assert rows[0]["score"] == pytest.approx(0.8) and rows[0]["evidence"] == "u:1->p:5" and rows[0]["model"] == "rec@1"
    older = execute_analyst(graph, "user_recommendations", user="u:1", run_id="rec-a", limit=1)
    assert keys(older, "rank", "item", "run_id") == [(1, "p:2", "rec-a")]
    assert keys(execute_analyst(graph, "user_recommendations", user="u:2"), "item", "run_id") == [("p:1", "rec-a")]
    assert execute_analyst(graph, "user_recommendations", user="u:3") == []  # behaviour, no recommendations
    assert execute_analyst(graph, "user_recommendations", user="nobody") == []


def test_product_audience_recommended_first_then_related_by_brand_or_category(graph):
    rows = execute_analyst(graph, "product_audience", id="p:5")
    assert keys(rows, "user", "reason", "rank") == [("u:1", "recommended", 1)]  # best rank over rec-a and rec-b
    assert sorted(rows[0]["runs"]) == ["rec-a", "rec-b"] and rows[0]["score"] == pytest.approx(0.8)
    assert keys(execute_analyst(graph, "product_audience", id="p:2"), "user", "reason") == [("u:1", "recommended")]
    related = execute_analyst(graph, "product_audience", id="p:2", include_related=True)
    # u:3 rated p:1, which shares the asserted category c:1 with p:2; u:1 (also p:1) is listed once, as
    # recommended; u:2's recommendation of p:1 and its sampled negative are not behaviour, and p:2's predicted
    # brand links nobody
    assert keys(related, "user", "reason", "related_products", "via") == [
        ("u:1", "recommended", 0, []), ("u:3", "related", 1, ["c:1"])]
    assert keys(execute_analyst(graph, "product_audience", id="p:2", include_related=True, via=["HAS_BRAND"]),
                "user") == [("u:1",)]
    kettle = execute_analyst(graph, "product_audience", id="p:4", include_related=True)
    assert kettle == []  # its brand b:2 is predicted only, its category c:2 has no other product with behaviour
    assert len(execute_analyst(graph, "product_audience", id="p:2", include_related=True, limit=1)) == 1


def test_recommendation_coverage_per_run(graph):
    rows = {r["run_id"]: r for r in execute_analyst(graph, "recommendation_coverage")}
    assert set(rows) == {"rec-a", "rec-b"}
    a, b = rows["rec-a"], rows["rec-b"]
    assert (a["users"], a["all_users"], a["items"], a["catalogue"], a["recommendations"]) == (2, 3, 3, 5, 3)
    assert a["catalogue_share"] == pytest.approx(0.6) and a["user_share"] == pytest.approx(2 / 3)
    assert (b["users"], b["items"], b["recommendations"]) == (1, 2, 2) and b["catalogue_share"] == pytest.approx(0.4)
    assert a["model"] == "rec@1" and a["per_user"] == pytest.approx(1.5)
    assert keys(execute_analyst(graph, "recommendation_coverage", run_id="rec-b"), "run_id") == [("rec-b",)]
    assert execute_analyst(graph, "recommendation_coverage", run_id="run-a") == []  # a link-prediction run


def test_recommendation_run_diff_per_user_and_item(graph):
    rows = execute_analyst(graph, "recommendation_run_diff", run_a="rec-a", run_b="rec-b")
    assert keys(rows, "user", "item", "diff", "rank_a", "rank_b", "rank_change") == [
        ("u:1", "p:5", "both", 2, 1, -1), ("u:1", "p:2", "only_a", 1, None, None),
        ("u:1", "p:3", "only_b", None, 2, None), ("u:2", "p:1", "only_a", 1, None, None)]
    assert rows[0]["score_a"] == pytest.approx(0.5) and rows[0]["score_b"] == pytest.approx(0.8)
    one = execute_analyst(graph, "recommendation_run_diff", run_a="rec-a", run_b="rec-b", user="u:2")
    assert keys(one, "item", "diff") == [("p:1", "only_a")]
    assert execute_analyst(graph, "recommendation_run_diff", run_a="run-a", run_b="run-b") == []


def test_link_prediction_queries_never_see_people_or_recommendations(graph):
    """Users and RECOMMENDED edges are in the fixture graph: the link-prediction queries stay as they were."""
    for name, params in EXAMPLES.items():
        if "recommend" in name or "audience" in name:
            continue
        text = json.dumps(execute_analyst(graph, name, **params), default=str)
        assert "RECOMMENDED" not in text and "u:" not in text and "rec-" not in text or name == "analyst/runs", name
    assert execute_analyst(graph, "coverage", run_id="rec-a") == []  # no entity-to-entity types to cover
    assert keys(execute_analyst(graph, "run_summary", run_id="rec-a"), "rel_type", "edges", "proposed") == [
        ("RECOMMENDED", 3, 0)]  # what a recommendation run wrote, asked for by its id
    assert keys(execute_analyst(graph, "proposed_edges", run_id="rec-a"), "head") == []
    assert keys(execute_analyst(graph, "run_edges", run_id="rec-b"), "head") == []
    assert keys(execute_analyst(graph, "run_diff", run_a="rec-a", run_b="rec-b"), "head") == []
    # evidence through a person (p:2 <-[PURCHASED]- u:3 -[RATED]-> p:1 -[HAS_BRAND]-> b:1) is not evidence
    paths = [r["path"] for r in execute_analyst(graph, "evidence_paths", head="p:2", rel_type="HAS_BRAND", tail="b:1",
                                                limit=100)]
    assert paths and not any("u:" in p for p in paths)


# ---- parameters ------------------------------------------------------------------------------------------------

def test_prepare_params_fills_defaults_coerces_and_refuses():
    assert prepare_params("analyst/proposed_edges", {}) == {
        "rel_type": None, "run_id": None, "min_probability": 0.0, "limit": 100}
    got = prepare_params("analyst/proposed_edges", {"limit": 5.0, "min_probability": 1, "run_id": 123})
    assert got["limit"] == 5 and isinstance(got["limit"], int)
    assert got["min_probability"] == 1.0 and isinstance(got["min_probability"], float)
    assert got["run_id"] == "123"  # ids are strings even when they look like numbers
    assert prepare_params("analyst/coverage", {})["label"] == "Product"
    with pytest.raises(KgpError, match=r"takes no parameter \$limt; it takes: \$rel_type"):
        prepare_params("analyst/proposed_edges", {"limt": 3})
    with pytest.raises(KgpError, match=r"needs \$rel_type, \$tail"):
        prepare_params("analyst/evidence_paths", {"head": "p:1"})
    with pytest.raises(KgpError, match=r"\$limit must be an integer"):
        prepare_params("analyst/proposed_edges", {"limit": 2.5})
    with pytest.raises(KgpError, match=r"\$rel_types must be a JSON list"):
        prepare_params("analyst/coverage", {"rel_types": "HAS_BRAND"})
    with pytest.raises(KgpError, match=r"\$include_rejected must be true or false"):
        prepare_params("analyst/product_predictions", {"id": "p:1", "include_rejected": "yes"})
    # statements without declarations take their parameters as given
    assert prepare_params("runs/get_run", {"run_id": 7}) == {"run_id": 7}


def kgp(*args, env):
    return run_kgp(*args, env=env, timeout=120)


def test_cli_runs_analyst_files_with_typed_params(graph, cli_env):
    done = kgp("cypher", "--file", "analyst/proposed_edges", "--param", "rel_type=HAS_BRAND",
               "--param", "min_probability=0.85", "--param", "limit=1", "--json", env=cli_env)
    assert done.returncode == 0, done.stderr
    assert keys(json.loads(done.stdout), "head", "tail", "probability") == [("p:2", "b:1", 0.94)]
    done = kgp("cypher", "--file", "analyst/coverage", "--param", "run_id=run-b",
               "--param", 'rel_types=["HAS_BRAND"]', "--json", env=cli_env)
    assert keys(json.loads(done.stdout), "rel_type", "lacking_after") == [("HAS_BRAND", 0)]
    bad = kgp("cypher", "--file", "analyst/run_edges", env=cli_env)
    assert bad.returncode == 2 and "needs $run_id" in bad.stderr


# ---- Neo4j Browser: the guide and the style -------------------------------------------------------------------

BROWSER = REPO / "cypher" / "browser"
LINT = REPO / "tools" / "cypher-lint" / "lint.mjs"
PARAM_BLOCK = re.compile(r"^:param ([A-Za-z_][A-Za-z0-9_]*) => (.+)$")


class GuideBlocks(HTMLParser):
    """Runnable <pre> blocks of a Neo4j Browser guide, in document order, with their slide number."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.blocks, self.slides, self.tags = [], 0, set()
        self._current = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add((tag, attrs.get("class")))
        if tag == "slide":
            self.slides += 1
        if tag == "pre" and "runnable" in (attrs.get("class") or "").split():
            self._current = {"slide": self.slides, "query": attrs.get("data-query"), "text": ""}

    def handle_data(self, data):
        if self._current is not None:
            self._current["text"] += data

    def handle_endtag(self, tag):
        if tag == "pre" and self._current is not None:
            self.blocks.append(self._current)
            self._current = None


def guide_blocks():
    parser = GuideBlocks()
    parser.feed((BROWSER / "guide.html").read_text(encoding="utf-8"))
    return parser


def test_guide_is_up_to_date_and_shaped_like_a_browser_guide():
    done = subprocess.run([sys.executable, str(BROWSER / "build_guide.py"), "--check"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    parser = guide_blocks()
    assert ("article", "guide") in parser.tags and ("carousel", "deck container-fluid") in parser.tags
    assert ("slide", "row-fluid") in parser.tags and parser.slides >= 6
    assert "<title>" in (BROWSER / "guide.html").read_text()


def test_every_runnable_guide_block_is_an_analyst_query_or_a_param_command():
    queries = set(analyst_queries())
    seen_queries, set_params = set(), set()
    for block in guide_blocks().blocks:
        text = block["text"].strip()
        if block["query"] is None:
            m = PARAM_BLOCK.match(text)
            assert m, f"slide {block['slide']}: runnable block is neither an analyst query nor :param: {text!r}"
            set_params.add(m[1])
            continue
        assert block["query"] in queries, block["query"]
        assert text == cypher_files.load(block["query"]), f"{block['query']}: guide text differs from the file"
        missing = used_params(text) - set_params
        assert not missing, f"slide {block['slide']}: {block['query']} runs before :param {sorted(missing)}"
        seen_queries.add(block["query"])
    assert len(seen_queries) >= 8
    declared = set().union(*(declared_params(q) for q in seen_queries))
    assert set_params <= declared  # no :param block for a name no query uses


@pytest.mark.skipif(shutil.which("node") is None or not LINT.is_file(), reason="node or tools/cypher-lint missing")
def test_guide_blocks_lint_clean_as_browser_input(tmp_path):
    for i, block in enumerate(guide_blocks().blocks):
        (tmp_path / f"block{i:02d}.cypher").write_text(block["text"].strip() + "\n", encoding="utf-8")
    done = subprocess.run(["node", str(LINT), "--console-commands", str(tmp_path)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and " 0 errors" in done.stdout, done.stdout + done.stderr


def test_guide_walkthrough_runs_on_the_embedded_store(graph):
    """Play the guide as Browser would: each :param sets a parameter (its value evaluated by the database), each
    query runs with the parameters set so far. The placeholders get the fixture's ids."""
    placeholders = {"'PASTE-A-RUN-ID'": "'run-a'", "'p:42'": "'p:2'", "'b:7'": "'b:1'", "'PASTE-A-USER-ID'": "'u:1'"}
    params, results = {}, {}
    for block in guide_blocks().blocks:
        text = block["text"].strip()
        m = PARAM_BLOCK.match(text)
        if m:
            value = placeholders.get(m[2], m[2])
            params[m[1]] = graph.query(f"RETURN {value} AS v", read_only=True)[0]["v"]
        else:
            results[block["query"]] = graph.query(text, {k: params[k] for k in used_params(text)}, read_only=True)
    assert [r["run_id"] for r in results["analyst/runs"]] != []
    assert {r["rel_type"] for r in results["analyst/run_summary"]} == {"HAS_BRAND", "IN_CATEGORY"}
    assert [r["probability"] for r in results["analyst/proposed_edges"]] == [0.94, 0.91]  # min_probability 0.9
    assert ([r["path"] for r in results["analyst/evidence_paths"]][0]
            == "p:2 <-[BOUGHT_TOGETHER]- p:1 -[HAS_BRAND]-> b:1")
    assert keys(results["analyst/run_edges"], "head", "status") == [("p:5", "rejected")]
    assert all(results[q] for q in results if q != "analyst/product_predictions") and results[
        "analyst/product_predictions"]
    assert {r["run_id"] for r in results["analyst/recommendation_coverage"]} == {"rec-a", "rec-b"}
    assert keys(results["analyst/user_recommendations"], "rank", "item") == [(1, "p:5"), (2, "p:3")]
    assert keys(results["analyst/product_audience"], "user", "reason") == [("u:1", "recommended"), ("u:3", "related")]


def parse_grass(text: str) -> dict[str, dict[str, str]]:
    """The GRASS reading of Neo4j Browser's GraphStyle.parse: single quotes toggle strings, `{` `}` delimit rules,
    properties split on ';' then ':' (so a value must not contain ':', and comments are not understood)."""
    rules, keyword, props, inside, quoted = {}, "", "", False, False
    for c in text:
        if c == "'":
            quoted = not quoted
            continue
        if c == "{" and not quoted:
            inside = True
            continue
        if c == "}" and not quoted:
            inside = False
            rules[keyword], keyword, props = props, "", ""
            continue
        if inside:
            props += c
        elif not c.isspace():
            keyword += c
    out = {}
    for selector, body in rules.items():
        out[selector] = {}
        for prop in body.split(";"):
            parts = prop.split(":")
            if len(parts) >= 2 and parts[0].strip() and parts[1].strip():
                assert len(parts) == 2, f"{selector}: Browser cuts {prop.strip()!r} at its second ':'"
                out[selector][parts[0].strip()] = parts[1].strip()
    return out


def test_style_grass_parses_as_browser_reads_it():
    text = (BROWSER / "style.grass").read_text(encoding="utf-8")
    assert "/*" not in text and "//" not in text  # Browser's parser has no comments: they would break selectors
    rules = parse_grass(text)
    assert set(rules) >= {"node", "relationship", "node.Product", "node.Brand", "node.Category"}
    for selector, props in rules.items():
        assert re.fullmatch(r"(node|relationship)(\.[A-Za-z_][A-Za-z0-9_]*)?", selector), selector
        assert props, selector
        for key in ("color", "border-color", "text-color-internal", "text-color-external"):
            if key in props:
                assert re.fullmatch(r"#[0-9A-Fa-f]{6}", props[key]), (selector, key, props[key])
    caption = rules["relationship"]["caption"]
    assert "<type>" in caption and "{status}" in caption and "{probability}" in caption
    assert rules["relationship"]["color"] == rules["node"]["color"]  # relationships stay neutral grey


def test_guide_server_sends_the_cors_header_browser_needs():
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, str(BROWSER / "serve.py"), "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/guide.html", timeout=2) as resp:
                    assert resp.headers["Access-Control-Allow-Origin"] == "*"
                    assert '<article class="guide">' in resp.read().decode()
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/style.grass", timeout=2) as resp:
                    assert resp.headers["Access-Control-Allow-Origin"] == "*"
                    assert resp.read().decode() == (BROWSER / "style.grass").read_text(encoding="utf-8")
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(timeout=10)
