"""Drift guard: when the graph has moved too far from what the model was trained on, schedule retraining.

Two signals, measured after each incremental tick that scored something:
- growth: entities, or asserted relationships, created since the base run started, as a share of the base run's
  snapshot; past ``KGP_DRIFT_MAX_ADDED_SHARE`` the model has not seen too much of the graph;
- precision: incremental edges a reviewer has since accepted or rejected; once ``KGP_DRIFT_MIN_REVIEWED`` are
  reviewed, an accepted share below ``KGP_DRIFT_MIN_PRECISION`` means the incremental predictions got worse.
``drift_decision`` is pure; ``measure_drift`` reads the counts from the store.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from kgplatform.graph.schema import declared_schema
from kgplatform.graph.store import GraphStore, execute
from kgplatform.settings import Settings


@dataclass
class DriftDecision:
    retrain: bool
    reasons: list[str]
    figures: dict


def drift_decision(*, base_nodes: int, base_edges: int, added_nodes: int, added_edges: int, accepted: int,
                   rejected: int, max_added_share: float, min_reviewed: int, min_precision: float) -> DriftDecision:
    node_share = added_nodes / max(base_nodes, 1)
    edge_share = added_edges / max(base_edges, 1)
    reviewed = accepted + rejected
    precision = accepted / reviewed if reviewed else None
    reasons = []
    if node_share > max_added_share:
        reasons.append(f"{added_nodes} entities added since the base run = {node_share:.1%} of its "
                       f"{base_nodes} (limit {max_added_share:.0%})")
    if edge_share > max_added_share:
        reasons.append(f"{added_edges} relationships added since the base run = {edge_share:.1%} of its "
                       f"{base_edges} (limit {max_added_share:.0%})")
    if precision is not None and reviewed >= min_reviewed and precision < min_precision:
        reasons.append(f"incremental precision on reviewed edges {precision:.2f} ({accepted} accepted of "
                       f"{reviewed}) is below {min_precision:.2f}")
    figures = {"added_nodes": added_nodes, "added_edges": added_edges, "node_share": round(node_share, 4),
               "edge_share": round(edge_share, 4), "reviewed": reviewed, "accepted": accepted,
               "incremental_precision": None if precision is None else round(precision, 4)}
    return DriftDecision(bool(reasons), reasons, figures)


def measure_drift(store: GraphStore, settings: Settings, base) -> dict:
    """The decision for a BaseRun (stages.BaseRun), as a dict."""
    since = {"since": base.created_at}
    added_nodes = execute(store, "incremental/count_added_nodes", since, read_only=True)[0]["count"]
    added_edges, accepted, rejected = 0, 0, 0
    _, rel_types = declared_schema(store)
    for rel_type in sorted(rel_types):
        added_edges += execute(store, "incremental/count_added_links", since, read_only=True,
                               rel_type=rel_type)[0]["count"]
        for r in execute(store, "incremental/reviewed_incremental", since, read_only=True, rel_type=rel_type):
            accepted += r["count"] if r["status"] == "accepted" else 0
            rejected += r["count"] if r["status"] == "rejected" else 0
    decision = drift_decision(
        base_nodes=base.snapshot.num_nodes, base_edges=int(base.snapshot.edge_index.shape[1]),
        added_nodes=added_nodes, added_edges=added_edges, accepted=accepted, rejected=rejected,
        max_added_share=settings.drift_max_added_share, min_reviewed=settings.drift_min_reviewed,
        min_precision=settings.drift_min_precision)
    return asdict(decision)
