"""The graph-store port: the small interface every stage uses, whatever the backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

from .. import cypher_files

Row = dict[str, Any]


class GraphStore(Protocol):
    backend: str
    graph_name: str

    def query(self, text: str, params: dict | None = None, *, read_only: bool = False) -> list[Row]:
        """Run one Cypher statement; rows come back as plain dicts."""

    def apply_schema(self, rel_types: list[str] | tuple[str, ...] = ()) -> None:
        """Create the indexes/constraints of cypher/schema/<backend>.cypher, and of <backend>_relationship.cypher
        for each (validated) relationship type (idempotent)."""

    def close(self) -> None: ...


def run(store: GraphStore, name: str, params: dict | None = None, *, read_only: bool = False,
        label: str | None = None, rel_type: str | None = None) -> list[Row]:
    """Run the statement cypher/NAME.cypher with validated label/relationship-type placeholders filled in."""
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


