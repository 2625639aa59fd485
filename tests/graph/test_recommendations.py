"""Recommendations written back, read back, replaced, retracted and kept apart from link prediction, against a real
FalkorDB: (:User)-[:RECOMMENDED {rank, score, run_id, model, created_at, method, evidence, predicted}]->(:Entity)."""

from __future__ import annotations

import json

import pytest

from kgplatform.errors import InputError, KgpError
from kgplatform.graph.export import export_snapshot
from kgplatform.graph.recommendations import _user_batches, read_recommendations, write_recommendations
from kgplatform.graph.runs import record_run, retract_run, show_run
from kgplatform.graph.store import execute
from kgplatform.graph.writeback import write_predictions
from kgplatform.ingest.load import ingest_path
from kgplatform.review.actions import Selector, review_edges
from kgplatform.review.analyst import execute_analyst
from tests.support.env import run_kgp
from tests.support.graphs import CATALOG, PREDICTIONS, graph_state

HOSTILE_USER = "u'1\"`) MATCH (n) DETACH DELETE n //"
HOSTILE_ITEM = "p:`x']->(n) SET n.pwned = true //"
USERS = ["u:1", "u:2", "u:3", HOSTILE_USER]
BEHAVIOUR = [("u:1", "PURCHASED", "p:1", {"timestamp": 1700000000000, "weight": 1.0, "split": "train"}),
             ("u:2", "VIEWED", "p:3", {"timestamp": 1700000000001}),
             ("u:3", "RATED", "p:2", {"timestamp": 1700000000002, "rating": 4.0}),
             (HOSTILE_USER, "INTERACTED", "p:1", {})]
RUN_1 = [("u:1", "p:2", 1, 0.9), ("u:1", "p:3", 2, 0.4), ("u:2", "p:1", 1, 0.8), ("u:2", "p:2", 2, 0.7),
         ("u:3", "p:1", 1, 0.6), (HOSTILE_USER, HOSTILE_ITEM, 1, 0.5)]
RUN_2 = [("u:1", "p:3", 1, 0.95), ("u:2", "p:2", 1, 0.85), ("u:2", "p:3", 2, 0.3), ("u:3", "p:3", 1, 0.2),
         (HOSTILE_USER, "p:2", 1, 0.1)]


def recs(rows, tag="why"):
    return [{"user": u, "item": i, "rank": k, "score": s, "evidence": f"{tag}: {u} -> {i}"} for u, i, k, s in rows]


def write(store, run_id, rows, **kw):
    record_run(store, run_id=run_id, model="kgrec@1", config={}, metrics={}, counts={"recommended": len(rows)},
               status="completed", snapshot_hash="h", method="kgrec")
    return write_recommendations(store, recs(rows, run_id), run_id=run_id, model="kgrec@1", method="kgrec", **kw)


def recommended(store):
    """user -> sorted [(run_id, item, rank)] of its RECOMMENDED edges."""
    out = {u: [] for u in USERS}
    for r in store.query("MATCH (u:User)-[r:RECOMMENDED]->(i) RETURN u.id AS u, r.run_id AS run, i.id AS i, "
                         "r.rank AS k"):
        out[r["u"]].append((r["run"], r["i"], r["k"]))
    return {u: sorted(v) for u, v in out.items()}


def node_state(store):
    """Every node but the run records (which a write's record_run adds)."""
    return store.query("MATCH (n) WHERE NOT 'KgpRun' IN labels(n) RETURN labels(n) AS labels, properties(n) AS props "
                       "ORDER BY props.id")


@pytest.fixture
def graph(store, tmp_path):
    """The catalog, a link-prediction run (run-a), an extra hostile product, people and their behaviour."""
    path = tmp_path / "catalog.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in CATALOG))
    ingest_path(store, path)
    record_run(store, run_id="run-a", model="m@1", config={}, metrics={}, counts={}, status="completed",
               snapshot_hash="h", method="text+gnn")
    write_predictions(store, PREDICTIONS, run_id="run-a", model="m@1", method="text+gnn")
    store.query("CREATE (:Entity:Product {id: $id, name: 'Odd \"Name\"'})", {"id": HOSTILE_ITEM})
    for user, behaviour, item, props in BEHAVIOUR:  # plain Cypher: people as the behaviour ingest writes them
        store.query(f"MERGE (u:User {{id: $user}}) WITH u MATCH (p:Entity {{id: $item}}) "
                    f"CREATE (u)-[r:{behaviour}]->(p) SET r += $props", {"user": user, "item": item, "props": props})
    return store


# ---- write-back ----------------------------------------------------------------------------------------------

def test_write_carries_provenance_and_a_second_write_changes_nothing(graph):
    report = write(graph, "rec-1", RUN_1)
    assert report == {"run_id": "rec-1", "users": 4, "written": 6, "skipped": 0, "replaced": 0}
    first = graph_state(graph), node_state(graph)
    again = write(graph, "rec-1", RUN_1)
    assert again["written"] == 6 and again["replaced"] == 0
    assert (graph_state(graph), node_state(graph)) == first
    props = graph.query("MATCH (:User {id: 'u:1'})-[r:RECOMMENDED]->(:Entity {id: 'p:2'}) RETURN properties(r) AS p")
    p = props[0]["p"]
    assert p["predicted"] is True and p["run_id"] == "rec-1" and p["rank"] == 1 and p["score"] == pytest.approx(0.9)
    assert p["model"] == "kgrec@1" and p["method"] == "kgrec" and p["evidence"] == "rec-1: u:1 -> p:2"
    assert p["created_at"] > 1.6e12 and "status" not in p  # a recommendation is not reviewed


def test_evidence_is_bounded_duplicates_keep_their_best_rank_and_bad_rows_are_refused(graph):
    rows = [{"user": "u:1", "item": "p:2", "rank": 3, "score": 0.1, "evidence": "x" * 5000},
            {"user": "u:1", "item": "p:2", "rank": 1, "score": 0.9, "evidence": "best"}]
    assert write_recommendations(graph, rows, run_id="rec-1", model="m", method="kgrec")["written"] == 1
    assert read_recommendations(graph, "u:1")[0]["evidence"] == "best"
    write_recommendations(graph, rows[:1], run_id="rec-2", model="m", method="kgrec")
    assert len(read_recommendations(graph, "u:1")[0]["evidence"]) == 500
    before = graph_state(graph)
    bad = [{"user": "u:1", "item": "p:3", "rank": 0, "score": 1.0}, {"user": "", "item": "p:3", "rank": 1, "score": 1},
           {"user": "u:1", "item": "p:3", "rank": 1, "score": float("nan")}, {"user": "u:1", "item": "p:3"}]
    with pytest.raises(InputError) as err:
        write_recommendations(graph, recs(RUN_1) + bad, run_id="rec-3", model="m", method="kgrec")
    assert len(err.value.problems) == 4 and "recommendation 6" in err.value.problems[0]
    assert graph_state(graph) == before  # nothing of the run was written
    with pytest.raises(KgpError, match="invalid run id"):
        write_recommendations(graph, recs(RUN_1), run_id="../etc", model="m", method="kgrec")


def test_batches_hold_whole_users():
    by_user = {"a": [1, 2, 3], "b": [4], "c": [5, 6], "d": [7]}
    assert [users for users, _ in _user_batches(by_user, 3)] == [["a"], ["b", "c"], ["d"]]
    assert [rows for _, rows in _user_batches(by_user, 1)] == [[1, 2, 3], [4], [5, 6], [7]]


class WatchedStore:
    """The store, checking after every statement of a write-back that every user still has recommendations and
    that no user ever holds a partial set of the new run's rows."""

    def __init__(self, store, expected_new: dict[str, int]):
        self.inner, self.expected_new, self.checks = store, expected_new, 0
        self.backend, self.graph_name = store.backend, store.graph_name

    def query(self, text, params=None, **kw):
        rows = self.inner.query(text, params, **kw)
        if not kw.get("read_only"):
            state = recommended(self.inner)
            for user in self.expected_new:
                assert state[user], f"{user} had no recommendations after: {text[:80]}"
                new = [x for x in state[user] if x[0] == "rec-2"]
                assert len(new) in (0, self.expected_new[user]), f"{user} holds part of the new run"
            self.checks += 1
        return rows


def test_a_newer_run_replaces_each_users_recommendations_without_a_gap(graph):
    write(graph, "rec-1", RUN_1)
    expected = {u: sum(r[0] == u for r in RUN_2) for u in USERS}
    watched = WatchedStore(graph, expected)
    seen = []

    def progress(stage, done, total):  # after each batch: every user holds exactly one run, done rows are rec-2's
        state = recommended(graph)
        runs = {user: {x[0] for x in state[user]} for user in USERS}
        assert all(r in ({"rec-1"}, {"rec-2"}) for r in runs.values()), runs
        assert sum(expected[u] for u in USERS if runs[u] == {"rec-2"}) == done
        seen.append((stage, done, total))

    record_run(graph, run_id="rec-2", model="kgrec@1", config={}, metrics={}, counts={}, status="completed",
               snapshot_hash="h", method="kgrec")
    report = write_recommendations(watched, recs(RUN_2, "rec-2"), run_id="rec-2", model="kgrec@1", method="kgrec",
                                   batch_size=2, progress=progress)
    assert report == {"run_id": "rec-2", "users": 4, "written": 5, "skipped": 0, "replaced": 6}
    assert watched.checks == 6 and seen[-1] == ("write-back", 5, 5) and len(seen) == 3  # 3 batches of whole users
    state = recommended(graph)
    assert state["u:2"] == [("rec-2", "p:2", 1), ("rec-2", "p:3", 2)]
    assert all({x[0] for x in state[u]} == {"rec-2"} for u in USERS)
    assert [r["item"] for r in read_recommendations(graph, "u:2")] == ["p:2", "p:3"]
    # behaviour and the link-prediction run are untouched
    assert graph.query("MATCH (:User)-[r]->() WHERE type(r) <> 'RECOMMENDED' RETURN count(r) AS n") == [{"n": 4}]
    assert graph.query("MATCH (:Entity)-[r]->(:Entity) WHERE r.run_id = 'run-a' RETURN count(r) AS n") == [{"n": 3}]


def test_a_user_whose_new_rows_all_miss_keeps_the_older_run(graph):
    write(graph, "rec-1", RUN_1)
    report = write(graph, "rec-2", [("u:1", "p:404", 1, 0.9), ("u:2", "p:3", 1, 0.5), ("ghost", "p:1", 1, 0.5)])
    assert report["written"] == 1 and report["skipped"] == 2
    state = recommended(graph)
    assert {x[0] for x in state["u:1"]} == {"rec-1"} and {x[0] for x in state["u:2"]} == {"rec-2"}
    assert graph.query("MATCH (u:User {id: 'ghost'}) RETURN count(u) AS n") == [{"n": 0}]  # users are not created


def test_replace_false_writes_beside_the_served_run(graph):
    write(graph, "rec-1", RUN_1)
    assert write(graph, "rec-2", RUN_2, replace=False)["replaced"] == 0
    assert {x[0] for x in recommended(graph)["u:1"]} == {"rec-1", "rec-2"}
    assert [r["run_id"] for r in read_recommendations(graph, "u:1")] == ["rec-2"]  # the newest is served
    assert [r["item"] for r in read_recommendations(graph, "u:1", run_id="rec-1")] == ["p:2", "p:3"]


# ---- read-back ------------------------------------------------------------------------------------------------

def test_read_back_in_rank_order_with_names_and_k(graph):
    write(graph, "rec-1", RUN_1)
    rows = read_recommendations(graph, "u:2")
    assert rows == [
        {"item": "p:1", "name": "Sonique Buds", "score": pytest.approx(0.8), "rank": 1,
         "evidence": "rec-1: u:2 -> p:1", "run_id": "rec-1", "model": "kgrec@1"},
        {"item": "p:2", "name": "Sonique Cable", "score": pytest.approx(0.7), "rank": 2,
         "evidence": "rec-1: u:2 -> p:2", "run_id": "rec-1", "model": "kgrec@1"}]
    assert [r["item"] for r in read_recommendations(graph, "u:2", k=1)] == ["p:1"]


def test_unknown_user_is_a_clear_error_and_a_user_without_recommendations_is_empty(graph):
    with pytest.raises(KgpError, match="no user 'nobody' in the graph"):
        read_recommendations(graph, "nobody")
    with pytest.raises(KgpError, match="k must be a positive integer"):
        read_recommendations(graph, "u:1", k=0)
    with pytest.raises(KgpError, match="no user"):
        read_recommendations(graph, "p:1")  # an entity is not a user
    assert read_recommendations(graph, "u:1") == []


def test_hostile_ids_round_trip_as_data(graph):
    before_nodes = node_state(graph)
    write(graph, "rec-1", RUN_1)
    rows = read_recommendations(graph, HOSTILE_USER)
    assert [(r["item"], r["name"]) for r in rows] == [(HOSTILE_ITEM, 'Odd "Name"')]
    assert execute_analyst(graph, "user_recommendations", user=HOSTILE_USER)[0]["item"] == HOSTILE_ITEM
    audience = execute_analyst(graph, "product_audience", id=HOSTILE_ITEM)
    assert [(r["user"], r["reason"]) for r in audience] == [(HOSTILE_USER, "recommended")]
    assert node_state(graph) == before_nodes  # nothing deleted, created or changed
    assert graph.query("MATCH (n) WHERE n.pwned IS NOT NULL RETURN count(n) AS n") == [{"n": 0}]
    write(graph, "rec-2", RUN_2)
    assert [r["item"] for r in read_recommendations(graph, HOSTILE_USER)] == ["p:2"]


# ---- runs: show and retract ---------------------------------------------------------------------------------------

def test_runs_show_counts_and_retract_removes_exactly_the_runs_recommendations(graph):
    before = graph_state(graph), node_state(graph)
    write(graph, "rec-1", RUN_1)
    assert show_run(graph, "rec-1")["edges"] == [{"rel_type": "RECOMMENDED", "status": None, "count": 6}]
    report = retract_run(graph, "rec-1")
    assert report["removed"] == {"RECOMMENDED": 6} and report["total_removed"] == 6
    # behaviour, asserted facts, run-a's predictions and every node: identical
    assert (graph_state(graph), node_state(graph)) == before
    assert show_run(graph, "rec-1")["status"] == "retracted" and retract_run(graph, "rec-1")["total_removed"] == 0


def test_retracting_a_link_prediction_run_leaves_recommendations(graph):
    write(graph, "rec-1", RUN_1)
    recs_before = recommended(graph)
    assert retract_run(graph, "run-a")["removed"] == {"HAS_BRAND": 2, "IN_CATEGORY": 1}
    assert recommended(graph) == recs_before
    assert show_run(graph, "run-a")["edges"] == []


def test_retracting_an_older_run_during_a_replacement_leaves_the_newer(graph):
    write(graph, "rec-1", RUN_1)
    write(graph, "rec-2", RUN_2[:2])  # u:1 and u:2 replaced; u:3 and the hostile user still on rec-1
    retract_run(graph, "rec-1")
    state = recommended(graph)
    assert state["u:1"] == [("rec-2", "p:3", 1)] and state["u:3"] == [] and state[HOSTILE_USER] == []


# ---- link prediction does not see people or recommendations ---------------------------------------------------

def test_link_prediction_readers_ignore_people_and_recommendations(graph):
    snap_before = export_snapshot(graph)
    facets_before = execute(graph, "web/facets", read_only=True)
    write(graph, "rec-1", RUN_1)
    snap = export_snapshot(graph)
    assert snap.node_ids == snap_before.node_ids and not any(i.startswith("u") for i in snap.node_ids)
    assert snap.content_hash() == snap_before.content_hash()
    assert execute(graph, "web/facets", read_only=True) == facets_before
    page = {"status": None, "rel_type": None, "run_id": None}
    assert execute(graph, "web/count_edges", page, read_only=True) == [{"total": 3}]  # run-a's three edges
    edges = execute(graph, "web/edges_page", {**page, "offset": 0, "limit": 100}, read_only=True)
    assert {e["run_id"] for e in edges} == {"run-a"}
    # reviewing a recommendation run selects nothing (RECOMMENDED is not a declared type of the catalog)
    report = review_edges(graph, Selector(run_id="rec-1"), "accept", "ann", dry_run=True)
    assert report["matched"] == 0
    touching = execute(graph, "incremental/touching", {"ids": ["p:1", "p:2", "p:3"]}, read_only=True)
    assert {t["rel"] for t in touching} <= {"HAS_BRAND", "IN_CATEGORY", "BOUGHT_TOGETHER"}


# ---- `kgp recommend` ---------------------------------------------------------------------------------------------

def test_cli_recommend_prints_the_users_recommendations(graph, cli_env):
    write(graph, "rec-1", RUN_1)
    done = run_kgp("recommend", "u:1", "--k", "5", "--json", env=cli_env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        {"item": "p:2", "name": "Sonique Cable", "score": 0.9, "rank": 1, "evidence": "rec-1: u:1 -> p:2"},
        {"item": "p:3", "name": "Kettlo Kettle", "score": 0.4, "rank": 2, "evidence": "rec-1: u:1 -> p:3"}]
    hostile = run_kgp("recommend", HOSTILE_USER, "--k", "1", "--json", env=cli_env, timeout=120)
    assert [r["item"] for r in json.loads(hostile.stdout)] == [HOSTILE_ITEM]
    table = run_kgp("recommend", "u:1", env=cli_env, timeout=120)
    assert table.returncode == 0 and "Sonique Cable" in table.stdout and "rank" in table.stdout
    missing = run_kgp("recommend", "nobody", "--json", env=cli_env, timeout=120)
    assert missing.returncode == 2 and "no user 'nobody' in the graph" in missing.stderr and missing.stdout == ""
