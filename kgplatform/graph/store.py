"""The graph-store port: the small interface every stage uses, whatever the backend, and how to open one."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from typing import Any, Protocol

from kgplatform.graph import cypher_files
from kgplatform.graph.embedded import EmbeddedFalkorDB
from kgplatform.settings import Settings

Row = dict[str, Any]


class GraphStore(Protocol):
    backend: str
    graph_name: str

    def query(self, text: str, params: dict | None = None, *, read_only: bool = False,
              timeout_s: float | None = None) -> list[Row]:
        """Execute one Cypher statement; rows come back as plain dicts. timeout_s: this statement's deadline
        (default: the store's, KGP_QUERY_TIMEOUT_S), enforced by the server, which cancels the statement."""

    def apply_schema(self, rel_types: list[str] | tuple[str, ...] = ()) -> None:
        """Create the indexes/constraints of cypher/schema/<backend>.cypher, and of <backend>_relationship.cypher
        for each (validated) relationship type (idempotent)."""

    def close(self) -> None: ...


def execute(store: GraphStore, name: str, params: dict | None = None, *, read_only: bool = False,
            label: str | None = None, rel_type: str | None = None) -> list[Row]:
    """Execute the statement cypher/NAME.cypher with validated label/relationship-type placeholders filled in."""
    text = cypher_files.render(name, label=label, rel_type=rel_type)
    return store.query(text, params or {}, read_only=read_only)


def chunks(rows: Iterable, size: int) -> Iterator[list]:
    """Lists of up to `size` rows; a generator is consumed one chunk at a time."""
    if isinstance(rows, list):
        for start in range(0, len(rows), size):
            yield rows[start:start + size]
        return
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk


def write_rows(store: GraphStore, name: str, rows: Iterable[Row], *, batch_size: int,
               label: str | None = None, rel_type: str | None = None,
               on_batch: Callable[[int], None] | None = None, pipelined: bool = True) -> int:
    """UNWIND $rows in batches; returns the sum of the statement's `count` column (what it created/changed).
    pipelined=False: one batch at a time (paced writes: KGP_WRITE_PAUSE_S must leave the store idle between them).

    A store with pipelined_writes (FalkorDB: one writer per graph, so batches cannot deadlock) gets the next batch
    sent while the previous one runs: the client encodes parameters while the server writes. Batches must then be
    independent of each other's order, which every UNWIND statement here is."""
    text = cypher_files.render(name, label=label, rel_type=rel_type)

    def send(batch: list[Row]) -> int:
        return sum(int(r.get("count", 0) or 0) for r in store.query(text, {"rows": batch}))

    batches = chunks(rows, batch_size)
    if not pipelined or not getattr(store, "pipelined_writes", False):
        total = 0
        for batch in batches:
            total += send(batch)
            if on_batch:
                on_batch(len(batch))
        return total
    total = 0
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="kgp-write") as pool:
        in_flight: deque = deque()
        for batch in batches:
            in_flight.append((pool.submit(send, batch), len(batch)))
            if len(in_flight) == 2:
                total += _finish(in_flight.popleft(), on_batch)
        while in_flight:
            total += _finish(in_flight.popleft(), on_batch)
    return total


def _finish(sent: tuple[Future, int], on_batch: Callable[[int], None] | None) -> int:
    future, size = sent
    count = future.result()
    if on_batch:
        on_batch(size)
    return count


def embedded_server(settings: Settings) -> EmbeddedFalkorDB:
    """The embedded graph store, with this platform's password and query limits."""
    limits = ("TIMEOUT_DEFAULT", str(int(settings.query_timeout_s * 1000)),
              "TIMEOUT_MAX", str(int(settings.query_timeout_max_s * 1000)),
              "QUERY_MEM_CAPACITY", str(settings.query_memory_mb * 1024 * 1024))
    return EmbeddedFalkorDB(settings.falkordb_dir, settings.falkordb_host, settings.falkordb_port,
                            password=settings.redis_password, module_args=limits,
                            socket_timeout_s=settings.query_timeout_max_s + 30)


def embedded_broker(settings: Settings) -> EmbeddedFalkorDB:
    """The embedded Celery broker and result backend: a redis-server of its own, next to the store."""
    return EmbeddedFalkorDB(settings.home / "broker", settings.falkordb_host, settings.embedded_broker_port,
                            password=settings.redis_password, graph_module=False)


def open_store(settings: Settings, *, graph: str | None = None, create_missing: bool = True) -> GraphStore:
    """The configured backend's store; starts the embedded FalkorDB when it is the backend and not running.
    create_missing=False: a read of a FalkorDB graph that does not exist is refused instead of creating it."""
    if settings.backend == "neo4j":
        from kgplatform.graph.neo4j import Neo4jStore  # the neo4j driver is imported only when it is used

        if not settings.neo4j_uri:
            raise ValueError("KGP_STORE=neo4j needs NEO4J_URI")
        return Neo4jStore(settings.neo4j_uri, settings.neo4j_username, settings.neo4j_password,
                          settings.neo4j_database, retry_s=settings.neo4j_retry_s,
                          timeout_s=settings.query_timeout_s)
    from kgplatform.graph.falkordb import FalkorStore

    embedded_server(settings).start()
    return FalkorStore(settings.falkordb_host, settings.falkordb_port, graph or settings.graph,
                       password=settings.redis_password, timeout_s=settings.query_timeout_s,
                       socket_timeout_s=settings.query_timeout_max_s + 30, create_missing=create_missing)
