"""FalkorDB backend, over its native Redis protocol with the `falkordb` client."""

from __future__ import annotations

from typing import Any

import redis
from falkordb import FalkorDB
from falkordb.edge import Edge
from falkordb.node import Node
from falkordb.path import Path as FPath

from kgplatform.errors import StoreError, TransientStoreError
from kgplatform.graph import cypher_files

PRIMITIVE = {str, int, float, bool, type(None)}  # returned as they are: most values of a large reply
TRANSIENT = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, redis.exceptions.BusyLoadingError)


class FalkorStore:
    backend = "falkordb"
    pipelined_writes = True  # one writer per graph: concurrent batches queue, never deadlock (graph/store.py)

    def __init__(self, host: str, port: int, graph_name: str, *, password: str | None = None,
                 timeout_s: float | None = None, socket_timeout_s: float | None = None,
                 create_missing: bool = True):
        """timeout_s: the default deadline of a read (the server's TIMEOUT_DEFAULT covers the rest);
        create_missing: a read of a graph never written creates it empty (False: refused, naming the graphs)."""
        self.graph_name = graph_name
        self.timeout_s = timeout_s
        self.create_missing = create_missing
        self._db = FalkorDB(host=host, port=port, password=password, socket_connect_timeout=5,
                            socket_timeout=socket_timeout_s)
        self._graph = self._db.select_graph(graph_name)

    def query(self, text: str, params: dict | None = None, *, read_only: bool = False,
              timeout_s: float | None = None) -> list[dict]:
        timeout_s = timeout_s or (self.timeout_s if read_only else None)
        try:
            send = self._graph.ro_query if read_only else self._graph.query
            result = send(text, params or {}, timeout=int(timeout_s * 1000) if timeout_s else None)
        except TRANSIENT as exc:
            raise TransientStoreError(f"FalkorDB unreachable: {exc}") from exc
        except redis.exceptions.ResponseError as exc:
            if read_only and "empty key" in str(exc):
                if not self.create_missing:
                    known = ", ".join(sorted(self.graphs())) or "none"
                    raise StoreError(f"no graph {self.graph_name!r} in the embedded store (graphs: {known}); "
                                     "check KGP_GRAPH") from None
                self._graph.query("RETURN 1")  # a read of a graph never written: create it empty, then read
                return self.query(text, params, read_only=read_only, timeout_s=timeout_s)
            if "timed out" in str(exc).lower():
                raise StoreError(f"the statement ran past its deadline ({timeout_s or 'the store default'} s) and "
                                 "the store cancelled it; give it longer (kgp cypher --timeout S, up to "
                                 "KGP_QUERY_TIMEOUT_MAX_S) or narrow it") from None
            raise StoreError(f"FalkorDB refused the statement: {exc}\n--- statement ---\n{text[:2000]}") from exc
        columns = [h[1] if isinstance(h, (list, tuple)) else h for h in result.header]
        columns = [c.decode() if isinstance(c, bytes) else c for c in columns]
        return [{c: v if type(v) in PRIMITIVE else plain(v) for c, v in zip(columns, row)}
                for row in result.result_set]

    def apply_schema(self, rel_types: list[str] | tuple[str, ...] = ()) -> None:
        statements = cypher_files.schema_statements(self.backend)
        for rel_type in rel_types:
            statements += cypher_files.schema_statements(self.backend, rel_type)
        for statement in statements:
            try:
                self._graph.query(statement)
            except redis.exceptions.ResponseError as exc:
                if "already indexed" not in str(exc):
                    raise StoreError(f"schema statement failed: {statement}: {exc}") from exc

    def graphs(self) -> list[str]:
        return list(self._db.list_graphs())

    def delete_graph(self) -> None:
        try:
            self._graph.delete()
        except redis.exceptions.ResponseError:
            pass  # no such graph

    def close(self) -> None:
        self._db.connection.close()


def plain(value: Any) -> Any:
    """Client objects -> JSON-friendly values, shaped like the Neo4j driver's record.data()."""
    if isinstance(value, Node):
        return {"labels": list(value.labels or []), **dict(value.properties)}
    if isinstance(value, Edge):
        return {"type": value.relation, **dict(value.properties)}
    if isinstance(value, FPath):
        return [plain(n) for n in value.nodes()]
    if isinstance(value, list):  # export's id lists hold 100k strings: no call per element for them
        return [v if type(v) in PRIMITIVE else plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value
