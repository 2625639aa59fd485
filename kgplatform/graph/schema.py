"""The graph's declared schema: the labels and relationship types that ingest recorded (KgpSchema nodes: the
knowledge graph's, and apart the behaviour types of people's relationships), and the registry of where each name
came from (KgpRelationType / KgpLabel nodes: graph/names.py maps source names).

Only declared names ever reach Cypher text (graph/names.py checks them against this).
"""

from __future__ import annotations

from kgplatform.graph.store import GraphStore, execute


def declared_schema(store: GraphStore) -> tuple[set[str], set[str]]:
    """(labels, relationship types) declared by ingest; empty sets for a graph never ingested."""
    rows = execute(store, "ingest/declared_schema", read_only=True)
    return set(rows[0]["labels"] or []), set(rows[0]["rel_types"] or [])


def relation_registry(store: GraphStore) -> dict[str, dict]:
    """Relationship type -> {source_id, text}: the relation id each type was named from ('/people/person/
    nationality' for PEOPLE_PERSON_NATIONALITY) and the dataset's text for it ('' when it had none). Types
    ingested before the registry existed are missing."""
    rows = execute(store, "ingest/relation_registry", read_only=True)
    return {r["type"]: {"source_id": r["source_id"], "text": r["text"] or ""} for r in rows}


def label_registry(store: GraphStore) -> dict[str, dict]:
    """Label -> {source_id}: the entity type text each label was named from ('grande école' for GrandeEcole)."""
    rows = execute(store, "ingest/label_registry", read_only=True)
    return {r["label"]: {"source_id": r["source_id"]} for r in rows}


def behaviour_types(store: GraphStore) -> list[str]:
    """The behaviour relationship types declared by ingest ((:User)-[:TYPE]->(:Entity): PURCHASED, ...,
    SAMPLED_NEGATIVE), in the order they were declared; empty for a graph without behaviour."""
    return list(execute(store, "behaviour/declared_types", read_only=True)[0]["types"] or [])
