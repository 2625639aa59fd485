"""The predicted edge as it travels from scoring to write-back: one typed record, in domain ids.

Scoring creates the required fields; later stages return new records with the optional ones filled in rather
than editing earlier ones. The JSON of a record is a line of predictions.jsonl in the run directory.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict


class Prediction(TypedDict):
    head: str
    rel_type: str
    tail: str
    score: float  # the decoder's raw score
    probability: float  # calibrated on validation candidates
    method: NotRequired[str]  # 'text+gnn', 'text', 'both' or 'incremental'; write-back's default when absent
    mention: NotRequired[str]  # the head text's snippet that names the tail (text proposals)
    evidence: NotRequired[str]  # the short explanation written on the edge
    base_run: NotRequired[str]  # incremental edges: the full run whose model scored them


def select_predictions(shards: list[list[Prediction]], max_edges: int) -> list[Prediction]:
    """Merge shard outputs: most probable first (ties broken by ids, so the order is reproducible), capped."""
    merged = [p for shard in shards for p in shard]
    merged.sort(key=lambda p: (-p["probability"], -p["score"], p["head"], p["rel_type"], p["tail"]))
    return merged[:max_edges]


def with_evidence(predictions: list[Prediction], evidence: list[str]) -> list[Prediction]:
    """New records with ``evidence`` set, one string per prediction, in order."""
    if len(evidence) != len(predictions):
        raise ValueError(f"{len(evidence)} evidence strings for {len(predictions)} predictions")
    return [{**p, "evidence": e} for p, e in zip(predictions, evidence)]
