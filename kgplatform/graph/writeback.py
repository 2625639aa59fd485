"""The only stage that writes predictions: typed relationships with score, probability and provenance."""

from __future__ import annotations

import time
from collections import defaultdict

from kgplatform.graph.names import check_rel_type
from kgplatform.graph.schema import declared_schema
from kgplatform.graph.store import GraphStore, write_rows
from kgplatform.predictions import Prediction
from kgplatform.progress import ProgressFn


def write_predictions(store: GraphStore, predictions: list[Prediction], *, run_id: str, model: str, method: str,
                      batch_size: int = 2000, pause_s: float = 0.0,
                      progress: ProgressFn | None = None) -> dict[str, int]:
    """predictions: [{head, rel_type, tail, score, probability, evidence, method?}] (domain ids); a row's own
    ``method`` (e.g. 'text' for a text-proposed edge) wins over ``method``, the run's default.

    MERGE on (head, type, tail, run_id): writing the same run twice gives the same graph, so a write-back
    interrupted at any batch can simply be run again. pause_s sleeps between batches to leave a serving
    database room (KGP_WRITE_PAUSE_S).
    """
    _, declared_types = declared_schema(store)
    by_type = defaultdict(list)
    for p in predictions:
        by_type[check_rel_type(p["rel_type"], declared_types)].append({
            "head": p["head"], "tail": p["tail"], "score": float(p["score"]),
            "probability": float(p["probability"]), "run_id": run_id, "model": model, "method": p.get("method", method),
            "evidence": str(p.get("evidence", ""))[:500], "base_run": p.get("base_run")})
    written, done = {}, 0
    for rel_type, rows in sorted(by_type.items()):
        def advance(n: int) -> None:
            nonlocal done
            done += n
            if pause_s:
                time.sleep(pause_s)
            if progress:
                progress("write-back", done, len(predictions))
        written[rel_type] = write_rows(store, "writeback/merge_predicted", rows, batch_size=batch_size,
                                       rel_type=rel_type, on_batch=advance, pipelined=not pause_s)
    return written
