"""Neo4j 5 backend through the official driver (py2neo is end-of-life and not used)."""

from __future__ import annotations

from typing import Any

from kgplatform.errors import StoreError, TransientStoreError
from kgplatform.graph import cypher_files


class Neo4jStore:
    backend = "neo4j"

    def __init__(self, uri: str, username: str, password: str, database: str, retry_s: float = 15.0):
        import neo4j

        self._neo4j = neo4j
        self.graph_name = database
        self._database = database
        self._driver = neo4j.GraphDatabase.driver(uri, auth=(username, password), max_transaction_retry_time=retry_s)

    def query(self, text: str, params: dict | None = None, *, read_only: bool = False) -> list[dict]:
        exc_types = self._neo4j.exceptions
        try:
            if read_only:
                # A READ session makes the server itself refuse writes, not just the router.
                with self._driver.session(database=self._database,
                                          default_access_mode=self._neo4j.READ_ACCESS) as session:
                    return session.execute_read(lambda tx: [_plain(r.data()) for r in tx.run(text, params or {})])
            records, _, _ = self._driver.execute_query(text, params or {}, database_=self._database,
                                                       routing_=self._neo4j.RoutingControl.WRITE)
            return [_plain(r.data()) for r in records]
        except (exc_types.ServiceUnavailable, exc_types.SessionExpired) as exc:
            raise TransientStoreError(f"Neo4j unreachable: {exc}") from exc
        except exc_types.TransientError as exc:  # deadlocks, leader switches, memory pressure: retry later
            raise TransientStoreError(f"Neo4j asks to retry: {exc.message}") from exc
        except exc_types.Neo4jError as exc:
            raise StoreError(f"Neo4j refused the statement: {exc.message}\n--- statement ---\n{text[:2000]}") from exc

    def apply_schema(self, rel_types: list[str] | tuple[str, ...] = ()) -> None:
        statements = cypher_files.schema_statements(self.backend)
        for rel_type in rel_types:
            statements += cypher_files.schema_statements(self.backend, rel_type)
        for statement in statements:
            self.query(statement)

    def delete_graph(self) -> None:
        """Empty the database in bounded transactions (tests and benchmarks use a throwaway database)."""
        while self.query("MATCH (n) WITH n LIMIT 10000 DETACH DELETE n RETURN count(*) AS n")[0]["n"]:
            pass

    def close(self) -> None:
        self._driver.close()


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
