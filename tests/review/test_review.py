"""Review workflow against a real FalkorDB: state changes, audit trail, selectors, asserted edges untouched,
retraction keeps accepted edges, rejected edges never proposed again and used as negatives in training."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest
import torch

from kgplatform.errors import KgpError, SchemaError
from kgplatform.graph.export import export_snapshot
from kgplatform.graph.runs import record_run, retract_run
from kgplatform.graph.writeback import write_predictions
from kgplatform.ingest.load import ingest_path
from kgplatform.review import actions as review_mod
from kgplatform.review.actions import Selector, list_proposed, plan_review, review_edges, review_log, select_edges
from kgplatform.snapshot import Snapshot
from tests.support.env import run_kgp
from tests.support.graphs import CATALOG as SHARED_CATALOG
from tests.support.graphs import asserted, graph_state

CATALOG = [*SHARED_CATALOG, {"kind": "product", "id": "p:4", "name": "Sonique Stand"}]  # p:4: no brand, no category
RUN_A = [("p:2", "HAS_BRAND", "b:1", 0.94), ("p:3", "IN_CATEGORY", "c:1", 0.91), ("p:4", "HAS_BRAND", "b:1", 0.70),
         ("p:4", "IN_CATEGORY", "c:1", 0.40),
         ("p:1", "HAS_BRAND", "b:1", 0.99)]  # the same triple as an asserted edge: a separate, predicted one
RUN_B = [("p:4", "HAS_BRAND", "b:2", 0.65), ("p:2", "BOUGHT_TOGETHER", "p:4", 0.93)]
PROVENANCE = ("predicted", "score", "probability", "run_id", "model", "created_at", "method", "evidence")


def write_run(store, run_id, rows):
    record_run(store, run_id=run_id, model="m@1", config={}, metrics={}, counts={}, status="completed",
               snapshot_hash="h", method="text+gnn")
    write_predictions(store, [{"head": h, "rel_type": t, "tail": x, "score": p * 3, "probability": p,
                               "evidence": "because"} for h, t, x, p in rows],
                      run_id=run_id, model="m@1", method="text+gnn")


@pytest.fixture
def graph(store, tmp_path):
    path = tmp_path / "catalog.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in CATALOG))
    ingest_path(store, path)
    write_run(store, "run-a", RUN_A)
    write_run(store, "run-b", RUN_B)
    return store


def edge(store, head, rel_type, tail, run_id):
    rows = store.query("MATCH (h:Entity {id: $h})-[r]->(t:Entity {id: $t}) WHERE type(r) = $type AND r.run_id = $run "
                       "RETURN properties(r) AS p", {"h": head, "t": tail, "type": rel_type, "run": run_id})
    assert len(rows) == 1
    return rows[0]["p"]


def statuses(store):
    rows = store.query("MATCH (h)-[r]->(t) WHERE r.predicted = true "
                       "RETURN h.id AS h, type(r) AS type, t.id AS t, r.run_id AS run, r.status AS status")
    return {(r["h"], r["type"], r["t"], r["run"]): r["status"] for r in rows}


# ---- state changes and the audit trail ---------------------------------------------------------------------------

def test_accept_sets_status_reviewer_and_time_and_keeps_provenance(graph):
    before = edge(graph, "p:2", "HAS_BRAND", "b:1", "run-a")
    start = int(time.time() * 1000)
    report = review_edges(graph, Selector(head="p:2", rel_type="HAS_BRAND", tail="b:1", run_id="run-a"),
                          "accept", "ann")
    end = int(time.time() * 1000)
    assert (report["matched"], report["changed"], report["unchanged"], report["conflicts"]) == (1, 1, 0, 0)
    assert report["edges"] == [{"head": "p:2", "rel_type": "HAS_BRAND", "tail": "b:1", "run_id": "run-a",
                                "probability": 0.94, "previous_status": "proposed", "status": "accepted",
                                "changed": True}]
    after = edge(graph, "p:2", "HAS_BRAND", "b:1", "run-a")
    assert after["status"] == "accepted" and after["reviewed_by"] == "ann"
    assert start - 5 <= after["reviewed_at"] <= end + 5  # epoch ms from the database's timestamp()
    assert {k: after[k] for k in PROVENANCE} == {k: before[k] for k in PROVENANCE}
    assert sum(s == "accepted" for s in statuses(graph).values()) == 1  # nothing else changed


def test_reject_is_idempotent_and_recorded_once(graph):
    sel = Selector(run_id="run-b", rel_type="HAS_BRAND")
    first = review_edges(graph, sel, "reject", "bob")
    assert first["changed"] == 1 and first["review_id"].startswith("rev-")
    assert edge(graph, "p:4", "HAS_BRAND", "b:2", "run-b")["status"] == "rejected"  # stays in the graph
    reviewed_at = edge(graph, "p:4", "HAS_BRAND", "b:2", "run-b")["reviewed_at"]
    again = review_edges(graph, sel, "reject", "carol")
    assert (again["matched"], again["changed"], again["unchanged"], again["review_id"]) == (1, 0, 1, None)
    props = edge(graph, "p:4", "HAS_BRAND", "b:2", "run-b")
    assert props["reviewed_by"] == "bob" and props["reviewed_at"] == reviewed_at  # a no-op changes nothing
    log = review_log(graph)
    assert len(log) == 1
    assert {k: log[0][k] for k in ("action", "by", "head", "rel_type", "tail", "run_id", "previous_status",
                                   "status", "review_id")} == {
        "action": "reject", "by": "bob", "head": "p:4", "rel_type": "HAS_BRAND", "tail": "b:2", "run_id": "run-b",
        "previous_status": "proposed", "status": "rejected", "review_id": first["review_id"]}
    assert log[0]["at"] == reviewed_at


def test_a_decision_can_be_reversed_and_the_log_keeps_both(graph):
    sel = Selector(head="p:4", rel_type="HAS_BRAND", tail="b:1")
    review_edges(graph, sel, "reject", "ann")
    flipped = review_edges(graph, sel, "accept", "bob")
    assert flipped["edges"][0]["previous_status"] == "rejected" and flipped["changed"] == 1
    log = review_log(graph)
    assert [(r["by"], r["previous_status"], r["status"]) for r in log] == [
        ("bob", "rejected", "accepted"), ("ann", "proposed", "rejected")]  # newest first
    review_edges(graph, Selector(run_id="run-b"), "accept", "cy")
    assert {r["run_id"] for r in review_log(graph, run_id="run-b")} == {"run-b"}
    assert len(review_log(graph, run_id="run-b")) == 2 and len(review_log(graph, run_id="run-a")) == 2
    assert len(review_log(graph, limit=3)) == 3
    assert graph.query("MATCH (v:KgpReview) RETURN count(v) AS n") == [{"n": 4}]


def test_dry_run_writes_nothing_and_reports_what_would_change(graph):
    before = graph_state(graph)
    report = review_edges(graph, Selector(run_id="run-a", min_probability=0.9), "accept", "ann", dry_run=True)
    assert report["dry_run"] and report["review_id"] is None and report["changed"] == 3
    assert sorted((e["head"], e["rel_type"], e["status"]) for e in report["edges"]) == [
        ("p:1", "HAS_BRAND", "accepted"), ("p:2", "HAS_BRAND", "accepted"), ("p:3", "IN_CATEGORY", "accepted")]
    assert graph_state(graph) == before
    assert review_log(graph) == []


def test_a_concurrent_change_is_not_overwritten(graph, monkeypatch):
    stale = select_edges(graph, Selector(head="p:2", run_id="run-b"))
    assert len(stale) == 1 and stale[0]["status"] == "proposed"
    review_edges(graph, Selector(head="p:2", run_id="run-b"), "reject", "ann")  # someone else, meanwhile
    monkeypatch.setattr(review_mod, "select_edges", lambda store, selector: stale)
    report = review_edges(graph, Selector(head="p:2", run_id="run-b"), "accept", "bob")
    assert (report["changed"], report["conflicts"]) == (0, 1)
    assert edge(graph, "p:2", "BOUGHT_TOGETHER", "p:4", "run-b")["status"] == "rejected"
    assert [r["by"] for r in review_log(graph)] == ["ann"]


# ---- selectors ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("selector", [
    Selector(run_id="run-a"), Selector(rel_type="HAS_BRAND"), Selector(head="p:4"), Selector(tail="b:1"),
    Selector(min_probability=0.65, max_probability=0.93), Selector(rel_type="HAS_BRAND", max_probability=0.7),
    Selector(head="p:4", run_id="run-b"), Selector(head="p:2", rel_type="HAS_BRAND", tail="b:1", run_id="run-a"),
    Selector(min_probability=0.99), Selector(head="nobody"),
])
def test_selection_matches_its_pure_definition(graph, selector):
    everything = graph.query("MATCH (h)-[r]->(t) RETURN h.id AS head, type(r) AS rel_type, t.id AS tail, "
                             "r.run_id AS run_id, r.probability AS probability, r.predicted AS predicted")
    expected = sorted((e["head"], e["rel_type"], e["tail"], e["run_id"]) for e in everything
                      if selector.matches({**e, "predicted": e["predicted"] is True}))
    got = sorted((e["head"], e["rel_type"], e["tail"], e["run_id"]) for e in select_edges(graph, selector))
    assert got == expected
    assert all(run is not None for *_, run in got)  # never an asserted edge


def test_selector_boundaries_are_inclusive_and_combine(graph):
    got = select_edges(graph, Selector(min_probability=0.65, max_probability=0.70))
    assert sorted((e["head"], e["tail"]) for e in got) == [("p:4", "b:1"), ("p:4", "b:2")]
    report = review_edges(graph, Selector(rel_type="HAS_BRAND", run_id="run-a", max_probability=0.8), "reject", "x")
    assert [(e["head"], e["tail"]) for e in report["edges"]] == [("p:4", "b:1")]


def test_invalid_selectors_are_refused_before_anything_is_read(graph):
    with pytest.raises(KgpError, match="at least one filter"):
        review_edges(graph, Selector(), "accept", "ann")
    with pytest.raises(KgpError, match="min_probability 0.9 is above max_probability 0.5"):
        Selector(min_probability=0.9, max_probability=0.5).validate()
    with pytest.raises(KgpError, match=r"max_probability must be a number in \[0, 1\]"):
        Selector(max_probability=1.5).validate()
    with pytest.raises(SchemaError, match="invalid relationship type"):
        review_edges(graph, Selector(rel_type="HAS_BRAND]->() DETACH DELETE x //"), "accept", "ann")
    with pytest.raises(SchemaError, match="unknown relationship type 'OWNS'"):
        review_edges(graph, Selector(rel_type="OWNS"), "accept", "ann")
    with pytest.raises(KgpError, match="unknown review action 'approve'"):
        review_edges(graph, Selector(run_id="run-a"), "approve", "ann")
    with pytest.raises(KgpError, match="reviewer name"):
        review_edges(graph, Selector(run_id="run-a"), "accept", "  ")
    assert set(statuses(graph).values()) == {"proposed"}


def test_plan_review_is_pure_and_splits_changes_from_no_ops():
    edges = [{"status": "proposed", "k": 1}, {"status": "accepted", "k": 2}, {"status": "rejected", "k": 3}]
    plan = plan_review(edges, "accept")
    assert plan.status == "accepted"
    assert [e["k"] for e in plan.changes] == [1, 3] and [e["k"] for e in plan.unchanged] == [2]
    assert Selector(run_id="r").matches({"run_id": "r", "predicted": True, "probability": 0.5})
    assert not Selector(run_id="r").matches({"run_id": "r", "predicted": None, "probability": 0.5})


# ---- asserted facts ------------------------------------------------------------------------------------------------

def test_asserted_edges_can_never_be_reviewed(graph):
    before = asserted(graph)
    assert any(r["h"] == "p:1" and r["type"] == "HAS_BRAND" for r in before)
    # p:1 HAS_BRAND b:1 exists as an asserted fact and as run-a's prediction: only the prediction may match
    report = review_edges(graph, Selector(head="p:1", rel_type="HAS_BRAND", tail="b:1"), "reject", "ann")
    assert [(e["run_id"], e["status"]) for e in report["edges"]] == [("run-a", "rejected")]
    for action in ("accept", "reject"):  # a selector as wide as possible
        review_edges(graph, Selector(min_probability=0.0, max_probability=1.0), action, "ann")
        assert asserted(graph) == before
    assert review_edges(graph, Selector(head="p:1", rel_type="BOUGHT_TOGETHER"), "reject", "x")["matched"] == 0
    assert asserted(graph) == before and all(r["head"] != "p:1" or r["rel_type"] != "BOUGHT_TOGETHER"
                                             for r in review_log(graph))


# ---- retraction, export, scoring -----------------------------------------------------------------------------------

def kgp(*args, env):
    return run_kgp(*args, env=env, timeout=120)


def test_retract_keeps_reviewed_edges_unless_asked(graph, cli_env):
    review_edges(graph, Selector(head="p:2", run_id="run-a"), "accept", "ann")
    review_edges(graph, Selector(head="p:3", run_id="run-a"), "reject", "ann")
    rejected = {k for k, v in statuses(graph).items() if k[3] == "run-a" and v == "rejected"}
    assert rejected
    report = retract_run(graph, "run-a")
    left = {k: v for k, v in statuses(graph).items() if k[3] == "run-a"}
    # proposed edges go; the accepted one and the rejected ones (known negatives) stay
    assert left == {("p:2", "HAS_BRAND", "b:1", "run-a"): "accepted"} | {k: "rejected" for k in rejected}
    assert report["total_removed"] == 4 - len(rejected)
    assert len(review_log(graph, run_id="run-a")) == 1 + len(rejected)  # the audit trail outlives the edges
    done = kgp("runs", "retract", "run-a", "--include-accepted", "--include-rejected", "--json", env=cli_env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["total_removed"] == 1 + len(rejected)
    assert not any(k[3] == "run-a" for k in statuses(graph))


class FixedScores(torch.nn.Module):
    """Stub model: every query scores tail j as scores[j]."""

    def __init__(self, scores: torch.Tensor):
        super().__init__()
        self.scores = scores

    def score_tails(self, z, heads, rels, tails=None):
        out = self.scores.expand(len(heads), -1).clone()
        return out if tails is None else out[:, tails]  # tails: one candidate set shared by every query

    def score_triples(self, z, heads, rels, tails):
        return self.scores[tails]


def test_rejected_edges_are_exported_as_negatives_and_never_proposed_again(graph, tmp_path):
    plain = export_snapshot(graph)
    assert plain.rejected.shape == (0, 3)
    review_edges(graph, Selector(head="p:4", rel_type="HAS_BRAND", tail="b:1"), "reject", "ann")
    review_edges(graph, Selector(head="p:2", rel_type="HAS_BRAND", tail="b:1"), "accept", "ann")
    snap = export_snapshot(graph)
    ids, rel = snap.node_ids, snap.rel_names.index("HAS_BRAND")
    p4, b1, p2 = ids.index("p:4"), ids.index("b:1"), ids.index("p:2")
    assert snap.rejected.tolist() == [[p4, rel, b1]]
    assert [p4, rel, b1] in snap.excluded.tolist()
    facts = snap.triples().tolist()
    assert [p2, rel, b1] in facts and [p4, rel, b1] not in facts  # accepted = fact, rejected = not
    assert snap.content_hash() != replace(snap, rejected=torch.empty(0, 3, dtype=torch.long)).content_hash()

    path = tmp_path / "snapshot.pt"
    snap.save(path)
    loaded = Snapshot.load(path)
    assert torch.equal(loaded.rejected, snap.rejected) and loaded.content_hash() == snap.content_hash()

    from kgplatform.learn.candidates import top_candidates

    scores = torch.zeros(snap.num_nodes)
    scores[b1] = 10.0  # the rejected tail is the model's favourite
    heads, tails, _ = top_candidates(FixedScores(scores), None, snap, rel, torch.tensor([p4]), k=5)
    assert tails.tolist() == []  # brands: b:1 rejected, b:2 still proposed by run-b; neither is a candidate
    # without the rejected row in `excluded`, it would have been proposed first: the exclusion keeps it out
    kept = torch.tensor([row for row in snap.excluded.tolist() if row != [p4, rel, b1]]).reshape(-1, 3)
    unblocked = replace(snap, excluded=kept)
    assert top_candidates(FixedScores(scores), None, unblocked, rel, torch.tensor([p4]), k=5)[1].tolist() == [b1]


def test_training_pushes_a_rejected_prediction_down(store, tmp_path, request):
    """On a small generated catalog: the top brand candidate of a product without a brand, once rejected, drops in
    that product's ranking when training sees the rejection, and only then."""
    from kgplatform.demo.catalog import generate_catalog, write_dataset
    from kgplatform.learn.config import TrainConfig
    from kgplatform.learn.index import relation_ranges
    from kgplatform.learn.train import train_link_predictor
    from kgplatform.pipeline.config import PipelineConfig
    from kgplatform.pipeline.stages import node_states, prepare_splits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two threads on a busy 2-core machine were 50x slower here, and hit the time budget
    request.addfinalizer(lambda: torch.set_num_threads(threads))
    write_dataset(generate_catalog(seed=5, n_products=80), tmp_path / "catalog")
    ingest_path(store, tmp_path / "catalog")
    # few fixed epochs, evaluation only at the end: both trainings differ by the rejected loss term alone
    cfg = TrainConfig(use_text=False, encoder="none", dim=32, epochs=60, eval_every=1000, batch_size=256, lr=0.02,
                      seed=0, time_budget_s=10)
    before = prepare_splits(export_snapshot(store), PipelineConfig(train=cfg))
    rel = before.rel_names.index("HAS_BRAND")
    branded = set(before.triples()[before.triples()[:, 1] == rel][:, 0].tolist())
    product = before.type_names.index("Product")
    head = next(i for i, t in enumerate(before.node_type.tolist()) if t == product and i not in branded)
    allowed = relation_ranges(before, splits=None)[rel]

    def ranking(model, snapshot):
        with torch.no_grad():
            scores = model.score_tails(node_states(model, snapshot), torch.tensor([head]), torch.tensor([rel]))[0]
        return scores.masked_fill(~allowed, float("-inf"))

    plain_result = train_link_predictor(before, None, cfg)
    assert plain_result.stopped_reason == "epochs", "the comparison needs complete trainings: machine too busy?"
    plain = plain_result.model
    tail = int(ranking(plain, before).argmax())  # the brand the model would propose
    write_run(store, "run-r", [(before.node_ids[head], "HAS_BRAND", before.node_ids[tail], 0.9)])
    assert review_edges(store, Selector(run_id="run-r"), "reject", "ann")["changed"] == 1

    after = prepare_splits(export_snapshot(store), PipelineConfig(train=cfg))
    assert after.rejected.tolist() == [[head, rel, tail]]
    assert torch.equal(after.triples(), before.triples()) and torch.equal(after.edge_split, before.edge_split)
    trained = train_link_predictor(after, None, cfg)
    ignored_result = train_link_predictor(after, None, cfg.model_copy(update={"rejected_weight": 0.0}))
    assert trained.stopped_reason == ignored_result.stopped_reason == "epochs"
    ignored = ignored_result.model
    assert "rejected_loss" in trained.history[-1] and "rejected_loss" not in train_link_predictor(
        after, None, cfg.model_copy(update={"rejected_weight": 0.0, "epochs": 1})).history[-1]

    def rank_and_p(scores):
        return int((scores > scores[tail]).sum()) + 1, float(torch.softmax(scores, 0)[tail])

    rank_plain, p_plain = rank_and_p(ranking(ignored, after))
    rank_rejected, p_rejected = rank_and_p(ranking(trained.model, after))
    assert rank_plain == 1 and torch.equal(ranking(ignored, after), ranking(plain, before))
    assert rank_rejected >= 3, (rank_plain, rank_rejected)
    assert p_rejected < 0.5 * p_plain, (p_plain, p_rejected)


# ---- the function API the web page uses, and the CLI ---------------------------------------------------------------

def test_list_proposed_reflects_reviews(graph):
    rows = list_proposed(graph, rel_type="HAS_BRAND")
    assert [(r["head"], r["tail"], r["run_id"]) for r in rows] == [
        ("p:1", "b:1", "run-a"), ("p:2", "b:1", "run-a"), ("p:4", "b:1", "run-a"), ("p:4", "b:2", "run-b")]
    review_edges(graph, Selector(rel_type="HAS_BRAND", max_probability=0.7), "reject", "ann")
    assert [r["head"] for r in list_proposed(graph, rel_type="HAS_BRAND")] == ["p:1", "p:2"]
    assert [r["head"] for r in list_proposed(graph, min_probability=0.92, limit=2)] == ["p:1", "p:2"]


def test_cli_review_accept_reject_dry_run_and_log(graph, cli_env):
    dry = kgp("review", "accept", "--run", "run-b", "--dry-run", "--json", env=cli_env)
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["changed"] == 2 and set(statuses(graph).values()) == {"proposed"}
    text = kgp("review", "accept", "--run", "run-b", "--rel", "BOUGHT_TOGETHER", "--dry-run", env=cli_env)
    assert "would change to accepted" in text.stdout and "dry run" in text.stdout

    done = kgp("review", "accept", "--head", "p:2", "--rel-type", "HAS_BRAND", "--tail", "b:1", "--run", "run-a",
               "--by", "ann", "--json", env=cli_env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["changed"] == 1
    env = {**cli_env, "USER": "reviewer-from-env"}
    done = kgp("review", "reject", "--min-probability", "0.6", "--max-probability", "0.7", "--json", env=env)
    report = json.loads(done.stdout)
    assert report["by"] == "reviewer-from-env" and report["changed"] == 2
    log = json.loads(kgp("review", "log", "--json", env=cli_env).stdout)
    assert [(r["by"], r["action"]) for r in log] == [("reviewer-from-env", "reject")] * 2 + [("ann", "accept")]
    only_b = json.loads(kgp("review", "log", "--run", "run-b", "--json", env=cli_env).stdout)
    assert [(r["head"], r["tail"]) for r in only_b] == [("p:4", "b:2")]
    listed = json.loads(kgp("review", "list", "--rel", "HAS_BRAND", "--json", env=cli_env).stdout)
    assert [(r["head"], r["tail"]) for r in listed] == [("p:1", "b:1")]

    refused = kgp("review", "accept", "--json", env=cli_env)
    assert refused.returncode == 2 and "at least one filter" in refused.stderr
