"""Entity discovery end to end on the real store: a tagger trained on the graph's own brand names finds brands the
graph lacks in product titles, proposes them as nodes with their links, and review and retraction treat them as
they treat predicted edges; asserted facts are never touched."""

from __future__ import annotations

from kgplatform.graph.export import export_snapshot
from kgplatform.graph.runs import retract_run, show_run
from kgplatform.ingest.load import load_graph
from kgplatform.ingest.records import EntityRow, ParsedGraph, TripleRow
from kgplatform.pipeline.discover_step import DiscoverConfig, discover_entities_step, proposed_id
from kgplatform.review.actions import Selector, review_edges
from kgplatform.text.ner import TaggerConfig
from tests.text.test_ner import BRANDS, catalogue


def parsed(known: list[str], unknown: list[str]) -> ParsedGraph:
    """Products of the known brands with HAS_BRAND edges; products of the unknown ones with no brand at all."""
    graph = ParsedGraph()
    for part, linked in ((catalogue(known), True), (catalogue(unknown, per_brand=4, seed=9), False)):
        offset = len(graph.entities)
        for i, (node_id, text) in enumerate(zip(part.node_ids, part.node_text)):
            is_brand = part.type_names[int(part.node_type[i])] == "Brand"
            if is_brand and not linked:
                continue
            node_id = node_id if is_brand else f"product:{'K' if linked else 'U'}{i:04d}"
            label = "Brand" if is_brand else "Product"
            graph.entities.append(EntityRow(node_id, label, label, text, ""))
        if linked:
            ids = [e.id for e in graph.entities[offset:]]
            for h, t in part.edge_index.t().tolist():
                graph.triples.append(TripleRow(ids[h], "HAS_BRAND", ids[t], None))
    return graph


def asserted(store) -> list[tuple]:
    return sorted((r["h"], r["t"]) for r in store.query(
        "MATCH (h)-[r:HAS_BRAND]->(t) WHERE r.predicted IS NULL RETURN h.id AS h, t.id AS t", read_only=True))


def test_discovered_brands_are_proposed_with_their_links_reviewed_and_retracted(store, settings):
    load_graph(store, parsed(BRANDS[:8], BRANDS[8:]))
    facts = asserted(store)
    # A generous budget: early stopping ends a quiet run sooner; a busy machine still gets enough steps.
    cfg = DiscoverConfig(tagger=TaggerConfig(time_budget_s=120, batch_size=16, max_seq_length=24, lr=1e-4,
                                             eval_every_s=10), min_heads=2)
    summary = discover_entities_step(store, settings, cfg)
    assert summary["tagger_valid_best"]["f1"] > summary["tagger_valid_before"]["f1"] + 0.5, summary
    ids = {p["id"] for p in summary["proposals"]}
    vintrel, haskoll = proposed_id("Brand", "vintrel"), proposed_id("Brand", "haskoll")
    assert {vintrel, haskoll} <= ids, summary["proposals"]
    assert not ids & {f"brand:{b.lower().replace(' ', '_')}" for b in BRANDS[:8]}  # known brands are linked, not new

    nodes = {r["id"]: r for r in store.query(
        "MATCH (n:Brand) WHERE n.proposed = true RETURN n.id AS id, n.name AS name, n.status AS status, "
        "n.run_id AS run_id, n.mentions AS mentions, n.evidence AS evidence", read_only=True)}
    assert nodes[vintrel]["name"] == "Vintrel" and nodes[vintrel]["status"] == "proposed"
    assert nodes[vintrel]["run_id"] == summary["run_id"] and nodes[vintrel]["mentions"] >= 2
    assert "Vintrel" in nodes[vintrel]["evidence"]
    links = store.query("MATCH (p)-[r:HAS_BRAND]->(b {id: $id}) RETURN p.id AS p, r.status AS status, "
                        "r.predicted AS predicted, r.run_id AS run_id, r.method AS method", {"id": vintrel})
    assert len(links) >= 2 and all(r["p"].startswith("product:U") for r in links)
    assert {(r["status"], r["predicted"], r["run_id"], r["method"]) for r in links} == \
        {("proposed", True, summary["run_id"], "ner")}
    assert show_run(store, summary["run_id"])["status"] == "completed"
    assert asserted(store) == facts

    # not part of the graph until reviewed: export skips the proposed nodes
    assert vintrel not in export_snapshot(store).node_ids
    reviewed = review_edges(store, Selector(run_id=summary["run_id"], tail=vintrel), "accept", "tester")
    assert reviewed["changed"] == len(links)
    assert vintrel in export_snapshot(store).node_ids  # accepted with its links

    # retraction removes what is still proposed (haskoll and its links); the accepted brand stays
    removed = retract_run(store, summary["run_id"])
    assert removed["entities_removed"] >= 1
    left = {r["id"] for r in store.query("MATCH (n:Brand) WHERE n.proposed = true RETURN n.id AS id")}
    assert vintrel in left and haskoll not in left
    assert asserted(store) == facts
