"""Open the configured graph store; starts the embedded FalkorDB when it is the backend and not running."""

from __future__ import annotations

from ..settings import Settings
from .base import GraphStore, run, write_rows
from .embedded import EmbeddedFalkorDB

__all__ = ["GraphStore", "open_store", "embedded_server", "run", "write_rows"]


def embedded_server(settings: Settings) -> EmbeddedFalkorDB:
    return EmbeddedFalkorDB(settings.falkordb_dir, settings.falkordb_host, settings.falkordb_port)


def open_store(settings: Settings, *, graph: str | None = None) -> GraphStore:
    if settings.backend == "neo4j":
        from .neo4j import Neo4jStore

        if not settings.neo4j_uri:
            raise ValueError("KGP_STORE=neo4j needs NEO4J_URI")
        return Neo4jStore(settings.neo4j_uri, settings.neo4j_username, settings.neo4j_password,
                          settings.neo4j_database, retry_s=settings.neo4j_retry_s)
    from .falkordb import FalkorStore

    embedded_server(settings).start()
    store = FalkorStore(settings.falkordb_host, settings.falkordb_port, graph or settings.graph)
    return store
