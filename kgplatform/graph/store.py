"""The graph-store port: the small interface every stage uses, whatever the backend, and how to open one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

from kgplatform.graph import cypher_files
from kgplatform.graph.embedded import EmbeddedFalkorDB
from kgplatform.settings import Settings

Row = dict[str, Any]


class GraphStore(Protocol):
    backend: str
    graph_name: str

    def query(self, text: str, params: dict | None = None, *, read_only: bool = False) -> list[Row]:
        """Execute one Cypher statement; rows come back as plain dicts."""

    def apply_schema(self, rel_types: list[str] | tuple[str, ...] = ()) -> None:
        """Create the indexes/constraints of cypher/schema/<backend>.cypher, and of <backend>_relationship.cypher
        for each (validated) relationship type (idempotent)."""

    def close(self) -> None: ...


def execute(store: GraphStore, name: str, params: dict | None = None, *, read_only: bool = False,
            label: str | None = None, rel_type: str | None = None) -> list[Row]:
    """Execute the statement cypher/NAME.cypher with validated label/relationship-type placeholders filled in."""
    text = cypher_files.render(name, label=label, rel_type=rel_type)
    return store.query(text, params or {}, read_only=read_only)


def chunks(rows: list, size: int) -> Iterator[list]:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def write_rows(store: GraphStore, name: str, rows: list[Row], *, batch_size: int,
               label: str | None = None, rel_type: str | None = None,
               on_batch: Callable[[int], None] | None = None) -> int:
    """UNWIND $rows in batches; returns the sum of the statement's `count` column (what it created/changed)."""
    text = cypher_files.render(name, label=label, rel_type=rel_type)
    total = 0
    for batch in chunks(rows, batch_size):
        result = store.query(text, {"rows": batch})
        total += sum(int(r.get("count", 0) or 0) for r in result)
        if on_batch:
            on_batch(len(batch))
    return total


def embedded_server(settings: Settings) -> EmbeddedFalkorDB:
    return EmbeddedFalkorDB(settings.falkordb_dir, settings.falkordb_host, settings.falkordb_port)


def open_store(settings: Settings, *, graph: str | None = None) -> GraphStore:
    """The configured backend's store; starts the embedded FalkorDB when it is the backend and not running."""
    if settings.backend == "neo4j":
        from kgplatform.graph.neo4j import Neo4jStore  # the neo4j driver is imported only when it is used

        if not settings.neo4j_uri:
            raise ValueError("KGP_STORE=neo4j needs NEO4J_URI")
        return Neo4jStore(settings.neo4j_uri, settings.neo4j_username, settings.neo4j_password,
                          settings.neo4j_database, retry_s=settings.neo4j_retry_s)
    from kgplatform.graph.falkordb import FalkorStore

    embedded_server(settings).start()
    return FalkorStore(settings.falkordb_host, settings.falkordb_port, graph or settings.graph)
