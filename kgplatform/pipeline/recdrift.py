"""Keeping the recommender fresh, with its I/O: the newest recommendation run, the config a refresh reuses, and the
drift check on behaviour written since that run (pure parts in recommend/drift.py).

The window: behaviour relationships whose ``created_at`` (the store's clock when written) is after the run's
KgpRun ``created_at`` (stamped right after the run's export read the behaviour), newest first, at most NEWEST of
them. A person or an item the run does not know is cold start, not drift: counted and skipped.
"""

from __future__ import annotations

import json

import torch

from kgplatform.graph.names import check_rel_type
from kgplatform.graph.schema import behaviour_types
from kgplatform.graph.store import GraphStore, execute
from kgplatform.ingest.behaviour import NEGATIVE_TYPE
from kgplatform.pipeline.recsteps import METHOD
from kgplatform.pipeline.rundir import RunDir
from kgplatform.pipeline.runstore import open_run, run_has
from kgplatform.recommend.config import RecRunConfig
from kgplatform.recommend.drift import rec_drift_verdict, recall_on_new
from kgplatform.settings import Settings

NEWEST = 100_000  # new interactions ranked at most (the newest ones)
ARTEFACTS = (RunDir.REC_DATA, RunDir.REC_VECTORS, RunDir.METRICS)


def latest_rec_run(store: GraphStore, settings: Settings, *, with_artefacts: bool = True) -> dict | None:
    """{run_id, created_at, model} of the newest completed recommendation run of the store's graph (with its
    artefacts where runs are kept, KGP_RUNS_URL or KGP_HOME, when ``with_artefacts``), or None."""
    rows = execute(store, "incremental/latest_base_run", {"method": METHOD, "limit": 20}, read_only=True)
    for row in rows:
        if not with_artefacts or run_has(settings, row["run_id"], *ARTEFACTS):
            return row
    return None


def refresh_config(store: GraphStore, settings: Settings) -> tuple[RecRunConfig, str | None]:
    """(config, run id): the newest completed run's config (from its KgpRun node), or the default config and None
    when the graph has no such run."""
    row = latest_rec_run(store, settings, with_artefacts=False)
    if row is None:
        return RecRunConfig(), None
    saved = execute(store, "runs/get_run", {"run_id": row["run_id"]}, read_only=True)[0]["config"]
    return RecRunConfig.model_validate(json.loads(saved)), row["run_id"]


def new_behaviour(store: GraphStore, types: list[str], since: int, limit: int = NEWEST) -> list[dict]:
    """{user, item, created_at} of behaviour written after ``since`` (ms), newest first, at most ``limit``."""
    declared = set(behaviour_types(store))
    rows = []
    for rel_type in types:
        rows += execute(store, "behaviour/recent_edges", {"since": since, "limit": limit}, read_only=True,
                        rel_type=check_rel_type(rel_type, declared))
    return sorted(rows, key=lambda r: r["created_at"], reverse=True)[:limit]


def check_recommendation_drift(store: GraphStore, settings: Settings) -> dict:
    """Recall@20 of the newest behaviour under the newest run against the run's validation Recall@20, and the
    verdict (recommend/drift.py) with the counts behind it."""
    row = latest_rec_run(store, settings)
    if row is None:
        return {"status": "no-model", "retrain": False, "reasons": ["no completed recommendation run with its "
                                                                   "artefacts in KGP_HOME or KGP_RUNS_URL"]}
    out = open_run(settings, row["run_id"], *ARTEFACTS)
    data = out.load_recdata()
    vectors = out.load_tensor(RunDir.REC_VECTORS)
    valid = (out.read_json(RunDir.METRICS).get("best_valid") or {}).get("recall@20")
    declared = set(behaviour_types(store)) - {NEGATIVE_TYPE}
    types = [t for t in data.behaviour_names if t in declared]  # what the run learnt from
    since = int(row["created_at"])
    rows = new_behaviour(store, types, since)
    users = {u: j for j, u in enumerate(data.user_ids)}
    items = {e: i for i, e in enumerate(data.item_ids)}
    pairs = [(users[r["user"]], items[r["item"]]) for r in rows if r["user"] in users and r["item"] in items]
    ranked = recall_on_new(vectors["users"], vectors["entities"], data,
                           torch.tensor(pairs, dtype=torch.long).reshape(-1, 2))
    verdict = rec_drift_verdict(ranked["recall"], valid, ranked["pairs"], margin=settings.rec_drift_margin,
                                min_count=settings.rec_drift_min_interactions)
    counts = {"new_interactions": len(rows), "truncated": len(rows) == NEWEST,
              "unknown_user_interactions": sum(r["user"] not in users for r in rows),
              "unknown_item_interactions": sum(r["user"] in users and r["item"] not in items for r in rows),
              "repeats": ranked["repeats"], "users": ranked["users"]}
    return {"status": "checked", "base_run": row["run_id"], "since": since, "behaviour_types": types,
            **counts, **verdict}
