"""The serving process's state and its I/O: which model is live, behaviour recorded since it was trained, new
products arriving in the store.

Consistency:
- the live (model, catalogue) pair is one immutable value, replaced by assignment: a request reads it once and
  finishes on it, so a retrain's swap never shows it half a model;
- one writer at a time (a lock) grows the catalogue and the item index, and swaps models;
- behaviour recorded through the API is written to the store first, then kept here per user until a model trained
  on it is live, so the next request for that user folds it in.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from kgplatform.devices import device_of
from kgplatform.errors import KgpError
from kgplatform.graph.names import check_rel_type
from kgplatform.graph.schema import behaviour_types
from kgplatform.graph.store import GraphStore, execute
from kgplatform.ingest.behaviour import DEFAULT_TYPE, RESERVED_TYPES
from kgplatform.pipeline.recdrift import new_behaviour
from kgplatform.pipeline.recsteps import METHOD, load_rec_model
from kgplatform.pipeline.rundir import RunDir
from kgplatform.pipeline.runstore import open_run, runs_location
from kgplatform.serving import engine
from kgplatform.serving.ann import choose_index
from kgplatform.serving.catalog import Catalog
from kgplatform.serving.engine import Encode, NewItem, ServingModel
from kgplatform.settings import Settings
from kgplatform.text.embeddings import encode_texts
from kgplatform.textnorm import node_text

log = logging.getLogger("kgplatform.serving")
NEW_ITEMS_PAGE = 1000
# The run is stamped when its export has read the store; an export of Amazon-Book size takes minutes, and items
# created while it ran may be missing from its data. Looking further back only re-reads items the catalogue has.
SINCE_MARGIN_MS = 15 * 60_000
MAX_LIVE_ITEMS = 1000  # behaviour kept per user between retrains (the newest)
BEHAVIOUR_PAGE = 10_000  # behaviour rows read per poll (the newest; a backlog beyond it waits for the next model)


class NotFound(KgpError):
    """An id the API does not know: a 404."""


class BadRequest(KgpError):
    """A request the API refuses as it stands: a 422."""


@dataclass(frozen=True)
class Live:
    model: ServingModel
    catalog: Catalog
    items_after: tuple[int, str]  # new items are those after this (created_at ms, id) in the store
    item_labels: list[str]  # the run's item label (empty: any entity)
    encode: Encode  # text vectors from the run's own encoder


def text_encoder(settings: Settings, encoder: str = "") -> Encode:
    """Vectors from ``encoder`` (empty: KGP_EMBED_MODEL), through the embedding cache."""
    def encode(texts: list[str]) -> np.ndarray:
        return encode_texts(texts, encoder or settings.embed_model, settings.cache_dir,
                            batch_size=settings.embed_batch_size, device=device_of(settings)).numpy()
    return encode


def load_serving_model(settings: Settings, run_id: str,
                       encode: Encode | None = None) -> tuple[ServingModel, Catalog, Encode]:
    """A completed recommendation run's model, vectors, item index and catalogue (the run directory; no store),
    and the text encoder its items are matched with (``encode``, else the run's own)."""
    folder = open_run(settings, run_id)
    if not folder.has(RunDir.MODEL, RunDir.REC_DATA):
        raise KgpError(f"run {run_id} has no trained recommender in {runs_location(settings)} (KGP_HOME, or "
                       "KGP_RUNS_URL, must be where the run was written)")
    config = folder.read_json(RunDir.CONFIG, {}) or {}
    if config.get("kind") != "recommend":
        raise KgpError(f"run {run_id} is not a recommendation run")
    encode = encode or text_encoder(settings, config.get("encoder", ""))
    data = folder.load_recdata()
    item_text = encode(data.entity_text[: data.num_items]) if data.num_items else np.zeros((0, 0), np.float32)
    model = engine.build_serving_model(run_id, folder.model_name(), load_rec_model(folder), data, item_text,
                                       lambda vectors, sample: choose_index(vectors, sample))
    return *model, encode


class RecommendationService:
    def __init__(self, settings: Settings, store: GraphStore, encode: Encode | None = None, *,
                 run_id: str | None = None):
        """encode: text vectors for every run served; None: each run's own encoder (its config's, else
        KGP_EMBED_MODEL), so a run trained on a fine-tuned encoder is queried with it."""
        self.settings, self.store, self.encode = settings, store, encode
        self.pinned_run = run_id  # None: follow the newest completed run
        self._writer = threading.Lock()
        self._live_lock = threading.Lock()
        self._recorded: dict[str, list[tuple[str, int]]] = defaultdict(list)  # user -> [(item, created_at ms)]
        self._types: set[str] = set()
        self.live = self._load(run_id or self._latest_run())
        self._behaviour_since = self.live.items_after[0]
        self.add_new_items()
        self.add_new_behaviour()

    # ---- models ----------------------------------------------------------------------------------------------
    def _latest_run(self) -> str:
        rows = execute(self.store, "serving/latest_rec_run", {"method": METHOD}, read_only=True)
        if not rows:
            raise KgpError(f"graph {self.store.graph_name!r} has no completed recommendation run to serve; run "
                           "`kgp recommend-run` (or `kgp jobs submit recommend`) first")
        return rows[0]["run_id"]

    def _load(self, run_id: str) -> Live:
        started = time.perf_counter()
        rows = execute(self.store, "serving/run_created", {"run_id": run_id}, read_only=True)
        if not rows or rows[0]["method"] != METHOD or rows[0]["status"] != "completed":
            raise KgpError(f"run {run_id} is not a completed recommendation run of graph {self.store.graph_name!r}")
        model, catalog, encode = load_serving_model(self.settings, run_id, self.encode)
        log.info("loaded run %s (%s items, index %s) in %.1f s", run_id, catalog.size,
                 model.index_report.get("kind"), time.perf_counter() - started)
        label = RunDir.of(self.settings.runs_dir, run_id).load_rec_config().item_label
        return Live(model, catalog, (int(rows[0]["created_at"] or 0) - SINCE_MARGIN_MS, ""),
                    [label] if label else [], encode)

    def reload(self, run_id: str | None = None) -> bool:
        """Swap in run_id (default: the newest completed run) when it is not the live one; True when swapped.
        The new model is built before the swap; requests in flight finish on the old one."""
        target = run_id or self.pinned_run or self._latest_run()
        if target == self.live.model.run_id:
            return False
        fresh = self._load(target)
        with self._writer:
            self.live = fresh
        self._prune_recorded(fresh.model)
        self.add_new_items()
        log.info("serving run %s", target)
        return True

    def _prune_recorded(self, model: ServingModel) -> None:
        """Behaviour the new model's data holds needs no folding in any more."""
        with self._live_lock:
            for user in list(self._recorded):
                row = model.users.get(user)
                had = {model.data.entity_ids[i] for i in model.history[row].tolist()} if row is not None else set()
                kept = [(i, t) for i, t in self._recorded[user] if i not in had]
                if kept:
                    self._recorded[user] = kept
                else:
                    del self._recorded[user]

    # ---- new items ---------------------------------------------------------------------------------------------
    def add_new_items(self) -> int:
        """Fold in the items created in the store since the live model's export; returns how many were added."""
        added = 0
        while True:
            live = self.live
            since, after = live.items_after
            rows = execute(self.store, "serving/new_items", {"since": since, "after": after, "limit": NEW_ITEMS_PAGE,
                                                               "labels": live.item_labels}, read_only=True)
            fresh = [r for r in rows if live.catalog.row(r["id"]) is None]
            cursor = (int(rows[-1]["created_at"]), rows[-1]["id"]) if rows else live.items_after
            added += self._add(live, fresh, cursor)
            if len(rows) < NEW_ITEMS_PAGE:
                return added

    def _add(self, live: Live, rows: list[dict], cursor: tuple[int, str]) -> int:
        items = [NewItem(r["id"], node_text(r["name"], r["description"]),
                         [(e["type"], e["other"], bool(e["head"])) for e in r["edges"] or [] if e]) for r in rows]
        with self._writer:
            if self.live is not live:  # swapped meanwhile: the next call looks again against the new model
                return 0
            catalog = engine.add_items(live.model, live.catalog, items, live.encode) if items else live.catalog
            self.live = Live(live.model, catalog, max(cursor, live.items_after), live.item_labels, live.encode)
        if items:
            log.info("folded in %d new item(s)", len(items))
        return len(items)

    def ensure_item(self, item_id: str) -> int:
        """The item's catalogue row, folding it in from the store when it is newer than the last poll."""
        live = self.live
        row = live.catalog.row(item_id)
        if row is not None:
            return row
        rows = execute(self.store, "serving/items_by_id", {"ids": [item_id]}, read_only=True)
        if not rows:
            raise NotFound(f"no item {item_id[:200]!r} in graph {self.store.graph_name!r}")
        self._add(live, rows, live.items_after)
        row = self.live.catalog.row(item_id)
        if row is None:
            raise NotFound(f"item {item_id[:200]!r} could not be placed (the model was swapped meanwhile: retry)")
        return row

    # ---- behaviour -----------------------------------------------------------------------------------------------
    def _remember(self, user_id: str, item_id: str, created_at: int) -> None:
        with self._live_lock:
            items = self._recorded[user_id]
            if all(i != item_id for i, _ in items):
                items.append((item_id, created_at))
                del items[:-MAX_LIVE_ITEMS]

    def add_new_behaviour(self) -> int:
        """Behaviour other writers put in the store since the last look (another API replica, `kgp ingest`):
        it counts for those people's next request as if it had come through this API. Returns rows read."""
        self._types = set(behaviour_types(self.store))  # also what POST validates against: kept fresh here
        types = sorted(self._types - RESERVED_TYPES)
        rows = new_behaviour(self.store, types, self._behaviour_since, BEHAVIOUR_PAGE) if types else []
        for row in sorted(rows, key=lambda r: r["created_at"]):
            if self.live.catalog.row(row["item"]) is not None:
                self._remember(row["user"], row["item"], int(row["created_at"]))
        if rows:
            self._behaviour_since = max(int(r["created_at"]) for r in rows)
        return len(rows)

    def recorded_items(self, user_id: str) -> list[str]:
        with self._live_lock:
            return [i for i, _ in self._recorded.get(user_id, ())]

    def behaviour_type(self, name: str | None) -> str:
        wanted = (name or DEFAULT_TYPE).strip().upper().replace(" ", "_")
        check_rel_type(wanted)
        if wanted in RESERVED_TYPES:
            raise BadRequest(f"behaviour type {wanted!r} is reserved: the platform writes it")
        if wanted not in self._types:
            self._types = set(behaviour_types(self.store))
        if wanted not in self._types:
            if wanted != DEFAULT_TYPE:
                raise BadRequest(f"behaviour type {wanted!r} is not declared in graph {self.store.graph_name!r}; "
                                 f"declared: {sorted(self._types - RESERVED_TYPES) or 'none'}")
            execute(self.store, "behaviour/declare_types", {"types": [wanted]})
            self._types.add(wanted)
        return wanted

    def record(self, user_id: str, item_id: str, behaviour: str | None, timestamp_ms: int, weight: float | None,
               rating: float | None) -> dict:
        """Write the interaction to the store, then make it count for the user's next request."""
        rel_type = self.behaviour_type(behaviour)
        rows = execute(self.store, "serving/record_interaction",
                       {"user": user_id, "item": item_id, "timestamp": timestamp_ms, "weight": weight,
                        "rating": rating}, rel_type=rel_type)
        if not rows:
            raise NotFound(f"no item {item_id[:200]!r} in graph {self.store.graph_name!r}; nothing was written")
        self.ensure_item(item_id)
        self._remember(user_id, item_id, int(rows[0]["now"]))
        return {"user": user_id, "item": item_id, "type": rel_type, "timestamp": timestamp_ms,
                "created": bool(rows[0]["created"])}

    # ---- reads -----------------------------------------------------------------------------------------------------
    def recommendations(self, user_id: str, k: int, explain: bool) -> dict:
        live = self.live
        sm, catalog = live.model, live.catalog
        view = engine.user_view(sm, catalog, user_id, self.recorded_items(user_id))
        if view.vector is None:
            ranked, basis = engine.popular(sm, catalog, view.known, k), "popularity"
        else:
            ranked, basis = engine.rank(sm, catalog, view.vector, view.known, k), view.basis
        items = engine.item_rows(catalog, ranked)
        if explain:
            if basis == "popularity":
                evidence = [f"popular: {int(sm.popularity[r]) if r < len(sm.popularity) else 0} users interacted "
                            "with it (nothing known about this user yet)" for r, _ in ranked]
            else:
                evidence = engine.evidence_for(sm, catalog, user_id, view, [r for r, _ in ranked])
            for row, why in zip(items, evidence):
                row["evidence"] = why
        return {"user": user_id, "run_id": sm.run_id, "model": sm.model_name, "basis": basis, "items": items}

    def similar(self, item_id: str, k: int) -> dict:
        self.ensure_item(item_id)
        live = self.live
        row = live.catalog.row(item_id)
        return {"item": item_id, "run_id": live.model.run_id,
                "items": engine.item_rows(live.catalog, engine.similar_items(live.catalog, row, k))}

    def search(self, query: str, k: int) -> dict:
        live = self.live
        match = engine.match_query(live.model, live.catalog, query, live.encode)
        items = engine.item_rows(live.catalog, engine.exact_rank(match.scores, set(), k))
        for row in items:
            row["linked"] = bool(match.linked[live.catalog.row(row["item"])])
        return {"query": query, "run_id": live.model.run_id, "named_entities": match.named, "items": items}

    def keyword_recommendations(self, query: str, user_id: str | None, k: int) -> dict:
        live = self.live
        sm, catalog = live.model, live.catalog
        view = engine.user_view(sm, catalog, user_id, self.recorded_items(user_id)) if user_id else \
            engine.UserView(None, set(), [], "none")
        match = engine.match_query(sm, catalog, query, live.encode)
        ranked, basis = engine.keyword_recommendations(sm, catalog, match, view, k)
        return {"query": query, "user": user_id, "run_id": sm.run_id, "basis": basis,
                "named_entities": match.named, "items": engine.item_rows(catalog, ranked)}

    def describe(self) -> dict:
        live = self.live
        return {"run_id": live.model.run_id, "model": live.model.model_name, "items": live.catalog.size,
                "new_items": live.catalog.size - live.catalog.first_new, "users": len(live.model.users),
                "index": live.model.index_report, "graph": self.store.graph_name, "backend": self.store.backend}

    # ---- following the store -----------------------------------------------------------------------------------
    def follow(self, stop: threading.Event, *, poll_s: float, reload_s: float) -> None:
        """Until stop is set: fold in new items every poll_s, and swap in a newer completed run every reload_s
        (0: never). A failure is logged and tried again next time: serving goes on with what it has."""
        next_reload = time.monotonic() + reload_s
        while not stop.wait(poll_s):
            try:
                self.add_new_items()
                self.add_new_behaviour()
                if reload_s and time.monotonic() >= next_reload:
                    next_reload = time.monotonic() + reload_s
                    self.reload()
            except Exception as exc:  # the store restarting, a half-written run: keep serving
                log.warning("following the store failed (will retry): %s", exc)

    def start_following(self, *, poll_s: float, reload_s: float) -> threading.Event:
        stop = threading.Event()
        threading.Thread(target=self.follow, args=(stop,), kwargs={"poll_s": poll_s, "reload_s": reload_s},
                         name="kgp-serving-follow", daemon=True).start()
        return stop
