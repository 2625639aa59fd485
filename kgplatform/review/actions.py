"""Review of predicted edges: accept or reject them, with an audit trail in the graph.

API (what `kgp review` and the review web page call):

    Selector(head=None, rel_type=None, tail=None, run_id=None, min_probability=None, max_probability=None)
        which predicted edges a review touches; filters combine with AND, at least one must be set.
    review_edges(store, selector, action, by, *, dry_run=False) -> dict
        action 'accept' | 'reject'. Returns {action, status, by, dry_run, review_id, selector, matched, changed,
        unchanged, conflicts, edges: [{head, rel_type, tail, run_id, probability, previous_status, status,
        changed}]}. With dry_run nothing is written and `changed` counts what would change. review_id names the
        audit nodes written (null when nothing changed).
    select_edges(store, selector) -> list[dict]
        the predicted edges the selector matches: [{head, rel_type, tail, run_id, status, probability}].
    list_proposed(store, *, rel_type=None, run_id=None, min_probability=0.0, limit=100) -> list[dict]
        edges awaiting review, most probable first (the analyst/proposed_edges query).
    review_log(store, *, run_id=None, limit=1000) -> list[dict]
        the audit trail, newest first: [{review_id, at, by, action, head, rel_type, tail, run_id,
        previous_status, status}].

Rules:

- Only predicted relationships (`predicted = true`) are ever selected; asserted facts cannot be reviewed.
- Accepting sets `status = 'accepted'`, rejecting `status = 'rejected'`; both set `reviewed_by` and `reviewed_at`
  (epoch ms, the database's timestamp()) and keep the provenance properties as they are.
- Reviews are idempotent: an edge that already has the target status is left alone and nothing is recorded for it
  (it is counted as `unchanged`). A decision can be reversed (accept a rejected edge, or the other way round); the
  audit node records the status it had before.
- Every change writes one `(:KgpReview {review_id, action, by, at, head, rel_type, tail, run_id, previous_status,
  status})` node. One call of review_edges is one review_id.
- An edge whose status changed between selection and write (another reviewer) is not overwritten: it is counted
  in `conflicts`.
- What reviews mean elsewhere: export treats accepted edges as facts and brings rejected ones into
  `Snapshot.rejected` (training pushes their scores down); candidates never include any predicted edge again,
  whatever its status; `kgp runs retract` keeps accepted edges unless `--include-accepted`.
"""

from __future__ import annotations

import math
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

from kgplatform.errors import KgpError
from kgplatform.graph.names import check_rel_type
from kgplatform.graph.schema import declared_schema
from kgplatform.graph.store import GraphStore, chunks, execute
from kgplatform.review.analyst import execute_analyst

ACTIONS = {"accept": "accepted", "reject": "rejected"}
STATUSES = ("proposed", "accepted", "rejected")
APPLY_BATCH = 1000


@dataclass(frozen=True)
class Selector:
    """Which predicted edges a review touches. Every given filter must hold; None means "any"."""

    head: str | None = None
    rel_type: str | None = None
    tail: str | None = None
    run_id: str | None = None
    min_probability: float | None = None
    max_probability: float | None = None

    def validate(self) -> "Selector":
        """The selector itself, or a KgpError saying what is wrong with it. Pure: no store access."""
        if all(v is None for v in asdict(self).values()):
            raise KgpError("a review needs at least one filter (head, relationship type, tail, run or probability "
                           "range); refusing to review every predicted edge of the graph")
        for name in ("head", "tail", "run_id"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise KgpError(f"review selector: {name} must be a non-empty string, got {value!r}")
        if self.rel_type is not None:
            check_rel_type(self.rel_type)
        for name in ("min_probability", "max_probability"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or math.isnan(value) or not 0.0 <= value <= 1.0):
                raise KgpError(f"review selector: {name} must be a number in [0, 1], got {value!r}")
        if (self.min_probability is not None and self.max_probability is not None
                and self.min_probability > self.max_probability):
            raise KgpError(f"review selector: min_probability {self.min_probability} is above max_probability "
                           f"{self.max_probability}")
        return self

    def matches(self, edge: dict) -> bool:
        """The same test the selection statements make, on one edge row {head, rel_type, tail, run_id,
        probability, predicted?}. Rows without predicted=True (asserted facts) never match."""
        if edge.get("predicted", True) is not True:
            return False
        for name in ("head", "rel_type", "tail", "run_id"):
            wanted = getattr(self, name)
            if wanted is not None and edge.get(name) != wanted:
                return False
        p = edge.get("probability")
        if self.min_probability is not None and (p is None or p < self.min_probability):
            return False
        if self.max_probability is not None and (p is None or p > self.max_probability):
            return False
        return True

    def params(self) -> dict[str, Any]:
        """Query parameters of review/select_*.cypher (the relationship type goes into the statement instead)."""
        return {"head": self.head, "tail": self.tail, "run_id": self.run_id,
                "min_probability": None if self.min_probability is None else float(self.min_probability),
                "max_probability": None if self.max_probability is None else float(self.max_probability)}

    def describe(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class Plan:
    """What a review would do to the selected edges: pure, computed before anything is written."""

    action: str
    status: str
    changes: list[dict]  # edges whose status differs from the target: they will change
    unchanged: list[dict]  # edges that already have the target status: nothing happens, nothing is recorded


def target_status(action: str) -> str:
    if action not in ACTIONS:
        raise KgpError(f"unknown review action {action!r}; use one of {', '.join(ACTIONS)}")
    return ACTIONS[action]


def plan_review(edges: list[dict], action: str) -> Plan:
    """Split selected edges into those the action changes and those it leaves as they are."""
    status = target_status(action)
    changes = [e for e in edges if e["status"] != status]
    unchanged = [e for e in edges if e["status"] == status]
    return Plan(action=action, status=status, changes=changes, unchanged=unchanged)


def check_reviewer(by: str | None) -> str:
    by = (by or "").strip()
    if not by:
        raise KgpError("a review needs a reviewer name (--by NAME, or $USER)")
    if len(by) > 200:
        raise KgpError("reviewer name longer than 200 characters")
    return by


def new_review_id() -> str:
    """Sortable by time (nanoseconds), unique with the random suffix: one per review_edges call."""
    return f"rev-{time.time_ns():020d}-{secrets.token_hex(3)}"


# ---- I/O --------------------------------------------------------------------------------------------------------

def _rel_types(store: GraphStore, selector: Selector) -> list[str]:
    _, declared = declared_schema(store)
    if selector.rel_type is not None:
        return [check_rel_type(selector.rel_type, declared)]
    return sorted(check_rel_type(t) for t in declared)


def select_edges(store: GraphStore, selector: Selector) -> list[dict]:
    """The predicted edges the selector matches, type by type (typed, indexed statements)."""
    selector.validate()
    statement = "review/select_from_head" if selector.head is not None else "review/select_edges"
    edges = []
    for rel_type in _rel_types(store, selector):
        edges.extend(execute(store, statement, selector.params(), read_only=True, rel_type=rel_type))
    return edges


def review_edges(store: GraphStore, selector: Selector, action: str, by: str | None, *,
                 dry_run: bool = False) -> dict:
    """Accept or reject the selected predicted edges; see the module docstring for the rules and the result."""
    status = target_status(action)
    by = check_reviewer(by)
    plan = plan_review(select_edges(store, selector), action)
    review_id = new_review_id()
    changed_keys: set[tuple] = set()
    if not dry_run:
        by_type: dict[str, list[dict]] = {}
        for e in plan.changes:
            by_type.setdefault(e["rel_type"], []).append({
                "head": e["head"], "tail": e["tail"], "run_id": e["run_id"], "previous_status": e["status"],
                "status": status, "action": action, "by": by, "review_id": review_id})
        for rel_type, rows in sorted(by_type.items()):
            for batch in chunks(rows, APPLY_BATCH):
                for r in execute(store, "review/apply", {"rows": batch}, rel_type=rel_type):
                    changed_keys.add((r["head"], rel_type, r["tail"], r["run_id"]))
        if status == "accepted" and changed_keys:  # a proposed entity is accepted with its first accepted link
            execute(store, "review/accept_proposed_entities",
                    {"ids": sorted({tail for _, _, tail, _ in changed_keys}), "by": by})

    def key(e: dict) -> tuple:
        return e["head"], e["rel_type"], e["tail"], e["run_id"]

    edges = [{"head": e["head"], "rel_type": e["rel_type"], "tail": e["tail"], "run_id": e["run_id"],
              "probability": e["probability"], "previous_status": e["status"],
              "status": status if (dry_run or key(e) in changed_keys) else e["status"],
              "changed": dry_run or key(e) in changed_keys}
             for e in plan.changes]
    edges += [{"head": e["head"], "rel_type": e["rel_type"], "tail": e["tail"], "run_id": e["run_id"],
               "probability": e["probability"], "previous_status": e["status"], "status": e["status"],
               "changed": False} for e in plan.unchanged]
    changed = len(plan.changes) if dry_run else len(changed_keys)
    return {"action": action, "status": status, "by": by, "dry_run": dry_run,
            "review_id": review_id if changed and not dry_run else None, "selector": selector.describe(),
            "matched": len(plan.changes) + len(plan.unchanged), "changed": changed,
            "unchanged": len(plan.unchanged), "conflicts": 0 if dry_run else len(plan.changes) - changed,
            "edges": edges}


def list_proposed(store: GraphStore, *, rel_type: str | None = None, run_id: str | None = None,
                  min_probability: float = 0.0, limit: int = 100) -> list[dict]:
    """Predicted edges still 'proposed', most probable first: [{head, head_name, rel_type, tail, tail_name,
    probability, score, run_id, model, evidence}]."""
    if rel_type is not None:
        check_rel_type(rel_type)
    return execute_analyst(store, "proposed_edges", rel_type=rel_type, run_id=run_id,
                       min_probability=min_probability, limit=limit)


def review_log(store: GraphStore, *, run_id: str | None = None, limit: int = 1000) -> list[dict]:
    """The audit trail, newest first (one row per changed edge)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise KgpError(f"review log: limit must be a positive integer, got {limit!r}")
    return execute(store, "review/log", {"run_id": run_id, "limit": limit}, read_only=True)
