"""The only stage that writes recommendations, and their reader: (:User)-[:RECOMMENDED]->(:Entity) relationships
with rank, score and provenance.

Each relationship carries `rank`, `score`, `run_id`, `model`, `created_at` (epoch ms), `method`, `evidence` and
`predicted: true` (so "asserted = predicted IS NULL" still holds, and `kgp runs show` / `kgp runs retract` count
and remove a recommendation run like any prediction run); it has no review `status`.

Writing is idempotent (MERGE on user, item, run_id) and replaces without a gap: users are written in batches of
whole users; for each batch the new run's rows are written first (one statement, so a reader sees all of a user's
new rows or none), then the batch's recommendations of every other run are deleted. At every moment each user
holds at least one run's recommendations, and a reader takes the newest run it finds for the user.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from kgplatform.errors import InputError, KgpError
from kgplatform.graph.runs import check_run_id
from kgplatform.graph.store import GraphStore, execute
from kgplatform.progress import ProgressFn

MAX_EVIDENCE = 500  # characters, as graph/writeback.py


def _rows(recs: list[dict], *, run_id: str, model: str, method: str) -> dict[str, list[dict]]:
    """user -> rows in rank order; a (user, item) given twice keeps its best rank. Malformed rows are refused
    together, each named by its position."""
    problems: list[str] = []
    best: dict[tuple[str, str], dict] = {}
    for n, rec in enumerate(recs):
        try:
            user, item, rank, score = rec["user"], rec["item"], rec["rank"], float(rec["score"])
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(f"recommendation {n}: needs user, item, rank and a numeric score ({exc!r})")
            continue
        if not isinstance(user, str) or not user or not isinstance(item, str) or not item:
            problems.append(f"recommendation {n}: user and item must be non-empty id strings")
            continue
        if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
            problems.append(f"recommendation {n} ({user!r}, {item!r}): rank must be an integer >= 1, got {rank!r}")
            continue
        if not math.isfinite(score):
            problems.append(f"recommendation {n} ({user!r}, {item!r}): score must be finite, got {score!r}")
            continue
        row = {"user": user, "item": item, "rank": rank, "score": score, "run_id": run_id, "model": model,
               "method": str(rec.get("method") or method), "evidence": str(rec.get("evidence") or "")[:MAX_EVIDENCE]}
        key = (user, item)
        if key not in best or rank < best[key]["rank"]:
            best[key] = row
    if problems:
        raise InputError(f"{len(problems)} malformed recommendations; nothing was written", problems)
    by_user: dict[str, list[dict]] = {}
    for row in best.values():
        by_user.setdefault(row["user"], []).append(row)
    return {user: sorted(rows, key=lambda r: (r["rank"], r["item"])) for user, rows in sorted(by_user.items())}


def _user_batches(by_user: dict[str, list[dict]], batch_size: int) -> Iterator[tuple[list[str], list[dict]]]:
    """Batches of whole users with at most batch_size rows (a user with more rows is a batch of its own)."""
    users: list[str] = []
    rows: list[dict] = []
    for user, user_rows in by_user.items():
        if users and len(rows) + len(user_rows) > batch_size:
            yield users, rows
            users, rows = [], []
        users.append(user)
        rows.extend(user_rows)
    if users:
        yield users, rows


def write_recommendations(store: GraphStore, recs: list[dict], *, run_id: str, model: str, method: str,
                          batch_size: int = 2000, progress: ProgressFn | None = None,
                          replace: bool = True) -> dict:
    """recs: [{user, item, rank, score, evidence, method?}] (domain ids; rank 1 is the best). Writes the run's
    RECOMMENDED relationships, batch by batch of whole users; with replace (the default) each batch's
    recommendations of other runs are deleted right after the batch is written, never before. replace=False keeps
    them (a run written beside the served one, to compare with analyst/recommendation_run_diff).

    Rerunning the same run changes nothing; an interrupted write can be run again. The run's (:KgpRun) node is
    the caller's (graph.runs.record_run). Returns {run_id, users, written, skipped, replaced}: skipped counts rows
    whose user or item is not in the graph (nothing is written for them, and a user with none of this run's rows
    keeps its older recommendations).
    """
    check_run_id(run_id)
    if batch_size < 1:
        raise KgpError(f"batch_size must be at least 1, got {batch_size}")
    by_user = _rows(recs, run_id=run_id, model=model, method=method)
    total = sum(len(rows) for rows in by_user.values())
    written = replaced = done = 0
    for users, rows in _user_batches(by_user, batch_size):
        written += int(execute(store, "recommend/merge_recommended", {"rows": rows})[0]["count"] or 0)
        if replace:
            replaced += int(execute(store, "recommend/drop_replaced", {"users": users, "run_id": run_id})[0]["count"]
                            or 0)
        done += len(rows)
        if progress:
            progress("write-back", done, total)
    return {"run_id": run_id, "users": len(by_user), "written": written, "skipped": total - written,
            "replaced": replaced}


def read_recommendations(store: GraphStore, user_id: str, k: int = 20, *, run_id: str | None = None) -> list[dict]:
    """The user's recommendations from the newest run present for them (or from run_id), best rank first:
    [{item, name, score, rank, evidence, run_id, model}]; [] for a user without recommendations.
    Raises KgpError for a user that is not in the graph."""
    if not isinstance(user_id, str) or not user_id:
        raise KgpError("a user id must be a non-empty string")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise KgpError(f"k must be a positive integer, got {k!r}")
    rows = execute(store, "recommend/user_recommendations", {"user": user_id, "run_id": run_id, "k": k},
                   read_only=True)
    if not rows:
        raise KgpError(f"no user {user_id[:200]!r} in the graph (users are (:User {{id}}) nodes loaded with the "
                       "behaviour data); check the id")
    return [r for r in rows if r["item"] is not None]
