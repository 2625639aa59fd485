"""A small product catalog (JSON lines rows), predictions over it, and the queries that read a graph's edges back:
shared by the store tests of both backends and the review tests."""

CATALOG = [
    {"kind": "brand", "id": "b:1", "name": "Sonique"}, {"kind": "brand", "id": "b:2", "name": "Kettlo"},
    {"kind": "category", "id": "c:1", "name": "Audio"},
    {"kind": "product", "id": "p:1", "name": "Sonique Buds", "brand": "b:1", "category": "c:1"},
    {"kind": "product", "id": "p:2", "name": "Sonique Cable", "category": "c:1"},
    {"kind": "product", "id": "p:3", "name": "Kettlo Kettle", "brand": "b:2"},
    {"kind": "relation", "head": "p:1", "type": "BOUGHT_TOGETHER", "tail": "p:2"},
]
PREDICTIONS = [
    {"head": "p:2", "rel_type": "HAS_BRAND", "tail": "b:1", "score": 3.2, "probability": 0.94, "evidence": "x"},
    {"head": "p:3", "rel_type": "IN_CATEGORY", "tail": "c:1", "score": 1.1, "probability": 0.91, "evidence": "y"},
    # already asserted: write-back must not touch the asserted one
    {"head": "p:1", "rel_type": "HAS_BRAND", "tail": "b:1", "score": 5.0, "probability": 0.99, "evidence": "z"},
]


def asserted(store):
    return store.query("MATCH (h)-[r]->(t) WHERE r.predicted IS NULL "
                       "RETURN h.id AS h, type(r) AS type, t.id AS t, properties(r) AS props ORDER BY h, type, t")


def graph_state(store):
    return store.query("MATCH (h)-[r]->(t) RETURN h.id AS h, type(r) AS type, t.id AS t, properties(r) AS props "
                       "ORDER BY h, type, t, props.run_id")
