"""The graph's declared schema: the labels and relationship types that ingest recorded (a KgpSchema node).

Only declared names ever reach Cypher text (graph/names.py checks them against this).
"""

from __future__ import annotations

from kgplatform.graph.store import GraphStore, execute


def declared_schema(store: GraphStore) -> tuple[set[str], set[str]]:
    """(labels, relationship types) declared by ingest; empty sets for a graph never ingested."""
    rows = execute(store, "ingest/declared_schema", read_only=True)
    return set(rows[0]["labels"] or []), set(rows[0]["rel_types"] or [])
