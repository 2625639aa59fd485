"""Neo4j 5 backend through the official driver (py2neo is end-of-life and not used).

No secret in what it raises: the driver quotes the whole URI (``user:password@`` included) in some of its errors,
so every error leaves as a StoreError whose message names the masked URI and has the passwords removed, raised
``from None`` so that the driver's exception (and its message) is not chained into the traceback.
"""

from __future__ import annotations

from typing import Any

from kgplatform.errors import StoreError, TransientStoreError
from kgplatform.graph import cypher_files
from kgplatform.graph.uris import Redactor, mask_uri


class Neo4jStore:
    backend = "neo4j"

    def __init__(self, uri: str, username: str, password: str, database: str, retry_s: float = 15.0,
                 timeout_s: float | None = None):
        """timeout_s: the default deadline of a read (the server cancels the transaction when it passes)."""
        import neo4j

        self._neo4j = neo4j
        self.timeout_s = timeout_s
        self.graph_name = database
        self._database = database
        self.uri = mask_uri(uri)  # printable
        self._redact = Redactor(uri, password)
        try:
            self._driver = neo4j.GraphDatabase.driver(uri, auth=(username, password),
                                                      max_transaction_retry_time=retry_s)
        except Exception as exc:  # ConfigurationError, ValueError: the messages quote the URI, password included
            raise StoreError(f"cannot use NEO4J_URI {self.uri}: {self._redact(exc)}") from None

    def query(self, text: str, params: dict | None = None, *, read_only: bool = False,
              timeout_s: float | None = None) -> list[dict]:
        exc_types = self._neo4j.exceptions
        timeout_s = timeout_s or (self.timeout_s if read_only else None)
        try:
            if read_only:
                # A READ session makes the server itself refuse writes, not just the router; the transaction's
                # timeout makes the server cancel it when it runs past its deadline.
                work = self._neo4j.unit_of_work(timeout=timeout_s)(
                    lambda tx: [_plain(r.data()) for r in tx.run(text, params or {})])
                with self._driver.session(database=self._database,
                                          default_access_mode=self._neo4j.READ_ACCESS) as session:
                    return session.execute_read(work)
            records, _, _ = self._driver.execute_query(text, params or {}, database_=self._database,
                                                       routing_=self._neo4j.RoutingControl.WRITE)
            return [_plain(r.data()) for r in records]
        # `from None`, and the driver's messages redacted: they may quote the URI with its password.
        except (exc_types.ServiceUnavailable, exc_types.SessionExpired) as exc:
            raise TransientStoreError(f"Neo4j unreachable at {self.uri}: {self._redact(exc)}") from None
        except exc_types.TransientError as exc:  # deadlocks, leader switches, memory pressure: retry later
            raise TransientStoreError(f"Neo4j at {self.uri} asks to retry: {self._redact(exc.message)}") from None
        except exc_types.Neo4jError as exc:
            raise StoreError(f"Neo4j at {self.uri} refused the statement: {self._redact(exc.message)}"
                             f"\n--- statement ---\n{text[:2000]}") from None
        except exc_types.DriverError as exc:  # configuration, auth and protocol errors of the driver itself
            raise StoreError(f"Neo4j driver error ({self.uri}): {self._redact(exc)}") from None

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
