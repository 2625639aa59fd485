"""Explanations of predicted edges (kgplatform/explain/): paths against a brute-force search, rule confidences
against a brute-force count, mentions, the stored summary, and `kgp explain` on a run directory.

Real runs come from tests/support/runs.make_run (no training).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from kgplatform.demo.catalog import generate_catalog
from kgplatform.explain.explainer import MAX_SUMMARY, Explainer, explanation_stats, mentions, node_name, summarize
from kgplatform.explain.paths import Adjacency, RuleMiner, find_paths
from kgplatform.graph.store import open_store
from kgplatform.pipeline.rundir import RunDir
from kgplatform.pipeline.steps import load_explainer
from kgplatform.snapshot import Snapshot
from tests.support.env import run_kgp
from tests.support.runs import make_run

# ---- a small random graph, searched by brute force ------------------------------------------------------------------

def random_snapshot(seed: int = 0, n: int = 30, r: int = 3, e: int = 90) -> Snapshot:
    rng = np.random.default_rng(seed)
    rows = np.stack([rng.integers(0, n, e), rng.integers(0, r, e), rng.integers(0, n, e)], axis=1)
    rows = np.unique(rows[rows[:, 0] != rows[:, 2]], axis=0)
    return Snapshot(node_ids=[f"n{i}" for i in range(n)], type_names=["Thing"],
                    node_type=torch.zeros(n, dtype=torch.long), node_text=[f"node {i}" for i in range(n)],
                    rel_names=[f"R{i}" for i in range(r)], edge_index=torch.tensor(rows[:, [0, 2]].T.copy()),
                    edge_type=torch.tensor(rows[:, 1]), edge_split=torch.zeros(len(rows), dtype=torch.long))


def brute_paths(snapshot: Snapshot, head: int, tail: int) -> set:
    """Every simple path of length 2-3 from head to tail as (steps, nodes), by plain loops."""
    R = snapshot.num_relations
    nb: dict[int, list] = {v: [] for v in range(snapshot.num_nodes)}
    for h, r, t in snapshot.triples().tolist():
        nb[h].append((r, t))
        nb[t].append((r + R, h))
    out = set()
    for s1, a in nb[head]:
        if a in (head, tail):
            continue
        for s2, b in nb[a]:
            if b == tail:
                out.add(((s1, s2), (head, a, tail)))
            if b in (head, tail, a):
                continue
            for s3, c in nb[b]:
                if c == tail:
                    out.add(((s1, s2, s3), (head, a, b, tail)))
    return out


def as_set(found) -> set:
    return {(tuple(s), tuple(n)) for steps, nodes in found.by_length.values()
            for s, n in zip(steps.tolist(), nodes.tolist())}


def test_find_paths_matches_brute_force_from_either_end():
    snapshot = random_snapshot()
    adj = Adjacency.from_triples(snapshot.triples().numpy(), snapshot.num_nodes, snapshot.num_relations)
    compared = 0
    for h in range(snapshot.num_nodes):
        for t in range(snapshot.num_nodes):
            if h != t:
                expected = brute_paths(snapshot, h, t)
                assert as_set(find_paths(adj, h, t)) == expected, (h, t)
                # gathered from the tail's side and turned around, the paths are the same
                reversed_ = {(tuple((s + 3) % 6 for s in reversed(steps)), tuple(reversed(nodes)))
                             for steps, nodes in as_set(find_paths(adj, t, h))}
                assert reversed_ == expected
                compared += len(expected)
    assert compared > 100  # the graph is dense enough to have many paths


def test_length_three_paths_are_skipped_past_the_expansion_cap():
    snapshot = random_snapshot()
    adj = Adjacency.from_triples(snapshot.triples().numpy(), snapshot.num_nodes, snapshot.num_relations)
    capped = find_paths(adj, 0, 1, max_expansion=0)
    assert capped.truncated and 3 not in capped.by_length
    assert as_set(capped) == {p for p in brute_paths(snapshot, 0, 1) if len(p[0]) == 2}


def test_rule_confidence_matches_a_brute_force_count():
    snapshot = random_snapshot(seed=1)
    miner = RuleMiner(snapshot, heads_per_relation=1000)  # every node: the count is exact
    triples = set(map(tuple, snapshot.triples().tolist()))
    for rel in range(3):
        for steps in [(0, 1), (3, 4), (0, 1, 2), (1, 4, 0), (2, 5, 2), (0, 3, 0)]:
            support = hits = 0
            for h in {h for h, r, _ in triples if r == rel}:  # heads with some train edge of the relation
                ends = {nodes[-1] for t in range(snapshot.num_nodes) if t != h
                        for s, nodes in brute_paths(snapshot, h, t) if s == steps}
                support += len(ends)
                hits += sum((h, rel, t) in triples for t in ends)
            rule = miner.confidence(rel, steps)
            assert (rule["support"], rule["hits"]) == (support, hits), (rel, steps)
            assert rule["confidence"] == pytest.approx(hits / (support + 5.0))


def test_rules_counted_per_relation_are_capped_and_reloaded_the_same():
    snapshot = random_snapshot(seed=2)
    miner = RuleMiner(snapshot, max_rules_per_relation=2)
    first, second = miner.confidence(0, (0, 1)), miner.confidence(0, (1, 2))
    assert miner.confidence(0, (2, 0)) == {"confidence": 0.0, "support": 0, "hits": 0, "mined": False}
    assert miner.confidence(0, (0, 1)) == first and "mined" not in second  # counted ones stay
    again = RuleMiner(snapshot, max_rules_per_relation=2)
    again.load_json(miner.to_json())
    assert again.confidence(0, (1, 2)) == second and again.confidence(0, (2, 0))["mined"] is False


def test_the_rule_never_sees_the_edge_it_explains():
    # h -R0-> t is the only edge into t: no other path joins them, so R0 has no supporting rule at all
    snapshot = Snapshot(node_ids=["h", "x", "t"], type_names=["T"], node_type=torch.zeros(3, dtype=torch.long),
                        node_text=["h", "x", "t"], rel_names=["R0", "R1"],
                        edge_index=torch.tensor([[0, 0], [2, 1]]), edge_type=torch.tensor([0, 1]),
                        edge_split=torch.zeros(2, dtype=torch.long))
    miner = RuleMiner(snapshot)
    miner.mine(0)
    assert miner.coverage[0] == {}  # (h)-[:R1]->(x) and back is a walk to h, not a path to t
    assert miner.confidence(0, (1, 3, 0))["hits"] == 0  # h -R1-> x <-R1- h -R0-> t revisits h: not counted


def test_mentions_whole_name_then_words():
    text = "Quietfen wireless headphones. From QUIETFEN audio, quiet-fen free."
    found = mentions(text, "Quietfen")
    assert [m["text"] for m in found] == ["Quietfen", "QUIETFEN"] and all(m["match"] == "name" for m in found)
    assert text[found[1]["start"]:found[1]["end"]] == "QUIETFEN"
    words = mentions("A tent for two people", "Family Tents and Tent Pegs")
    assert [(m["text"], m["match"]) for m in words] == [("tent", "word")]
    assert [m["text"] for m in mentions("One tent, two pegs", "Tent Pegs")] == ["tent", "pegs"]
    assert [m["text"] for m in mentions("An ergonomic desk lamp", "Desk Lamps")] == ["desk", "lamp"]
    assert mentions("regex (special) chars", "(special)")[0]["text"] == "(special)"
    assert mentions("nothing here", "Sonavel") == []
    assert node_name("Sonavel. A brand. Of audio.") == "Sonavel"


# ---- a real run's explanations -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def explained(base_settings, tmp_path_factory):
    settings = base_settings.model_copy(update={"graph": "t_explain"})
    store = open_store(settings)
    run = make_run(store, settings, generate_catalog(seed=11, n_products=90), tmp_path_factory.mktemp("explain"))
    yield store, settings, run
    store.delete_graph()
    store.close()


def test_write_back_stores_evidence_and_explanation_figures(explained):
    store, _, run = explained
    rows = store.query("MATCH (h)-[r]->(t) WHERE r.run_id = $run RETURN h.id AS h, type(r) AS rel, t.id AS t, "
                       "r.evidence AS evidence", {"run": run["run_id"]})
    assert len(rows) == len(run["predictions"]) > 0
    for row in rows:
        assert 0 < len(row["evidence"]) <= MAX_SUMMARY
        assert row["evidence"].startswith("p=0.")
    figures = run["explain"]
    assert figures["edges"] == len(rows) and 0 <= figures["with_path"] <= figures["edges"]
    assert figures["with_path"] > 0  # held-back links of a catalog have co-purchase / category paths
    assert 0.0 <= figures["top_path_has_relation_share"] <= 1.0
    lines = (run["run_dir"] / "explanations.jsonl").read_text().splitlines()
    assert len(lines) == len(rows)
    rules = json.loads((run["run_dir"] / "rules.json").read_text())
    assert set(rules["rules"]) >= {p["rel_type"] for p in run["predictions"]}


def test_explanations_rank_paths_by_rule_confidence_and_find_linked_neighbours(explained):
    _, _, run = explained
    explainer = load_explainer(RunDir(run["run_dir"]))
    for p in run["predictions"]:
        e = explainer.explain(p["head"], p["rel_type"], p["tail"])
        confidences = [x["confidence"] for x in e["paths"]]
        assert confidences == sorted(confidences, reverse=True)
        for path in e["paths"]:
            assert path["nodes"][0]["id"] == p["head"] and path["nodes"][-1]["id"] == p["tail"]
            assert len(path["nodes"]) == len(path["steps"]) + 1 in (3, 4)
            assert path["ends_with_relation"] == (path["steps"][-1] == {"rel_type": p["rel_type"],
                                                                        "direction": "out"})
        rel = explainer.snapshot.rel_names.index(p["rel_type"])
        tail = explainer.index[p["tail"]]
        linked = {explainer.snapshot.node_ids[h] for h, r, t in explainer.snapshot.triples().tolist()
                  if r == rel and t == tail}
        assert {n["id"] for n in e["neighbours"]} <= linked
        sims = [n["similarity"] for n in e["neighbours"]]
        assert sims == sorted(sims, reverse=True) and len(e["neighbours"]) == min(3, len(linked - {p["head"]}))
        assert e["top_path_has_relation"] == (e["paths"][0]["ends_with_relation"] if e["paths"] else None)


def test_summary_is_short_whatever_the_names():
    long_name = "Ω" * 2000
    explanation = {"rel_type": "HAS_BRAND", "paths_found": 3, "neighbours": [
        {"name": long_name, "similarity": 0.9}] * 3, "mentions": [{"match": "name", "snippet": long_name}],
        "paths": [{"text": "head -[:A]-> \"" + long_name + "\" -[:HAS_BRAND]-> tail", "confidence": 0.5}]}
    text = summarize(explanation, 0.97)
    assert len(text) <= MAX_SUMMARY and text.startswith("p=0.97")
    stats = explanation_stats([{"paths": [{"confidence": 0.5}], "top_path_has_relation": True,
                                "neighbours": [], "mentions": []},
                               {"paths": [], "top_path_has_relation": None, "neighbours": [], "mentions": []}])
    assert stats["with_path"] == 1 and stats["top_path_has_relation_share"] == 1.0 and stats["edges"] == 2


def test_explainer_without_vectors_has_no_neighbours():
    snapshot = random_snapshot()
    e = Explainer(snapshot, None).explain("n0", "R1", "n5")
    assert e["neighbours"] == [] and e["head"]["id"] == "n0"
    with pytest.raises(KeyError, match="not in the run's snapshot"):
        Explainer(snapshot, None).explain("n0", "R1", "nope")


def kgp(*args, env):
    return run_kgp(*args, env=env, timeout=300)


def test_kgp_explain_recomputes_the_written_evidence(explained, base_settings):
    store, settings, run = explained
    env = {"KGP_STORE": "falkordb", "KGP_HOME": str(settings.home), "KGP_FALKORDB_PORT": str(settings.falkordb_port),
           "KGP_GRAPH": settings.graph}
    p = run["predictions"][0]
    done = kgp("explain", p["head"], p["rel_type"], p["tail"], "--json", env=env)  # run found in the store
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    stored = store.query("MATCH (h:Entity {id: $h})-[r]->(t:Entity {id: $t}) WHERE r.run_id = $run "
                         "RETURN r.evidence AS e", {"h": p["head"], "t": p["tail"], "run": run["run_id"]})
    assert shown["run_id"] == run["run_id"] and shown["evidence"] == stored[0]["e"]
    written = json.loads((run["run_dir"] / "explanations.jsonl").read_text().splitlines()[0])
    assert shown["paths"] == written["paths"] and shown["neighbours"] == written["neighbours"]
    text = kgp("explain", p["head"], p["rel_type"], p["tail"], "--run", run["run_id"], env=env)
    assert text.returncode == 0 and "evidence:" in text.stdout, text.stderr

    missing_run = kgp("explain", p["head"], p["rel_type"], p["tail"], "--run", "run-nope", env=env)
    assert missing_run.returncode == 2 and "run directory" in missing_run.stderr and "missing" in missing_run.stderr
    not_predicted = kgp("explain", p["tail"], p["rel_type"], p["head"], "--run", run["run_id"], env=env)
    assert not_predicted.returncode == 2 and "did not predict" in not_predicted.stderr
    not_in_store = kgp("explain", p["tail"], p["rel_type"], p["head"], env=env)
    assert not_in_store.returncode == 2 and "no predicted edge" in not_in_store.stderr
