"""The KgpIngest record around every load: 'running' before its first write, 'completed' after its last, 'failed'
(with the error) when it stops on an error it can still report. ingest/load.py explains who reads it."""

from __future__ import annotations

from collections.abc import Callable

from kgplatform.graph.store import GraphStore, execute


def recorded_load(store: GraphStore, record: dict, write: Callable[[], dict], *, relabelled: Callable[[dict], int]
                  = lambda result: 0) -> dict:
    """Run write() inside the record's bracket; returns {ingest_id, **its result}."""
    execute(store, "ingest/begin_ingest", record)  # before the first write of data
    try:
        result = write()
    except Exception as exc:
        try:  # best effort: a store that died cannot take it, and the record stays 'running'
            execute(store, "ingest/fail_ingest", {"id": record["id"], "error": f"{type(exc).__name__}: {exc}"[:2000]})
        except Exception:  # noqa: BLE001 - the original error is the one to raise
            pass
        raise
    execute(store, "ingest/finish_ingest", {"id": record["id"], "relabelled": relabelled(result),
                                            "relationships_created": result["relationships_created"]})
    return {"ingest_id": record["id"], **result}
