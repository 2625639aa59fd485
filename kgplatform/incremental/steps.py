"""Incremental scoring with its I/O: what changed since the watermark gets predicted links, without retraining.

One tick (``score_new``), run by `kgp score-new`, `kgp watch` and the Celery beat task `workers.tasks.score_new`:

1. The base run: the newest completed full run whose artefacts are where runs are kept (KGP_RUNS_URL, else the
   run directory), pulled to this host and kept warm in a ``BaseCache`` between ticks.
2. The window (since, until]: since = the watermark (a KgpWatermark node in the graph; the base run's start when
   there is none or it is older), until = the store's clock now, or just before the oldest ingest that has not
   completed began (a KgpIngest node still 'running' or 'failed'): half-loaded data waits for its ingest.
3. Changed nodes: entities stamped in the window, and both ends of asserted relationships created in it.
4. Their k-hop neighbourhood read from the store, the new text encoded (embedding cache), scored
   (stages.py), written with method='incremental', this run's id and the base run's model.
5. Only then the watermark moves to ``until``. A crash anywhere before leaves it where it was: the next tick redoes
   the window under the same run id (the id is derived from the base run and the window start), so write-back's
   MERGE makes the redo add only what was missing.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from kgplatform.devices import device_of
from kgplatform.errors import KgpError
from kgplatform.graph.runs import record_run
from kgplatform.graph.schema import declared_schema
from kgplatform.graph.store import GraphStore, execute
from kgplatform.graph.writeback import write_predictions
from kgplatform.incremental.drift import measure_drift
from kgplatform.incremental.stages import BaseRun, Neighbourhood, changed_texts, extend, new_node_texts, score
from kgplatform.ingest.load import ingests_in_progress
from kgplatform.pipeline.rundir import RunDir
from kgplatform.pipeline.runstore import open_run, publish, run_has, runs_location
from kgplatform.pipeline.steps import load_model
from kgplatform.settings import Settings
from kgplatform.text.embeddings import encode_texts, load_encoder

WATERMARK = "incremental"
METHOD = "incremental"
BASE_METHOD = "text+gnn"


@dataclass
class BaseCache:
    """Loaded base runs by id: a long-lived process (watch, worker) loads each model once."""

    runs: dict[str, BaseRun] = field(default_factory=dict)

    def get(self, settings: Settings, row: dict) -> BaseRun:
        if row["run_id"] not in self.runs:
            self.runs = {row["run_id"]: load_base_run(settings, row)}  # keep only the newest
        return self.runs[row["run_id"]]


def load_base_run(settings: Settings, row: dict) -> BaseRun:
    out = open_run(settings, row["run_id"])
    cfg = out.load_config()
    snapshot = out.load_snapshot()
    calibration, text_calibration = out.load_calibrators(snapshot.rel_names)
    device = device_of(settings)
    if cfg.train.use_text:  # warm now, not on the first new product (it is cached)
        load_encoder(cfg.encoder or settings.embed_model, str(device))
    return BaseRun(run_id=row["run_id"], model_name=row["model"], created_at=int(row["created_at"]), cfg=cfg,
                   snapshot=snapshot, model=load_model(out, snapshot, cfg, device),
                   states=out.load_tensor(RunDir.NODE_STATES).to(device),
                   calibration=calibration, text_calibration=text_calibration,
                   arrivals=out.load_arrivals(snapshot.rel_names))


def latest_base_row(store: GraphStore, settings: Settings) -> dict | None:
    """The newest completed full run with its artefacts where runs are kept (KGP_RUNS_URL, else KGP_HOME)."""
    for row in execute(store, "incremental/latest_base_run", {"method": BASE_METHOD, "limit": 20}, read_only=True):
        if run_has(settings, row["run_id"], *RunDir.BASE_ARTEFACTS):
            return row
    return None


def incremental_run_id(base_run: str, since: int) -> str:
    """Deterministic per window start: a redone window writes under the same id (MERGE dedups it)."""
    return f"inc-{since}-{base_run}"


# ---- reads ------------------------------------------------------------------------------------------------------

def read_watermark(store: GraphStore) -> dict:
    return execute(store, "incremental/get_watermark", {"name": WATERMARK}, read_only=True)[0]


def set_watermark(store: GraphStore, at: int, run_id: str | None, base_run: str | None) -> None:
    execute(store, "incremental/set_watermark", {"name": WATERMARK, "at": at, "run_id": run_id, "base_run": base_run})


def changed_ids(store: GraphStore, since: int, until: int) -> list[str]:
    window = {"since": since, "until": until}
    ids = {r["id"] for r in execute(store, "incremental/changed_nodes", window, read_only=True)}
    _, rel_types = declared_schema(store)
    for rel_type in sorted(rel_types):
        for r in execute(store, "incremental/changed_links", window, read_only=True, rel_type=rel_type):
            ids.update((r["head"], r["tail"]))
    return sorted(ids)


def read_neighbourhood(store: GraphStore, centers: list[str], hops: int, known: dict | set = frozenset(),
                       page: int = 5000) -> Neighbourhood:
    """The centers, every node within ``hops`` of them, and every relationship touching a node within hops - 1.
    Properties are read for the centers and for nodes not in ``known`` (the base run has the others' text)."""
    facts, predicted, seen, frontier = set(), set(), set(centers), list(centers)
    for _ in range(hops):
        reached = set()
        for start in range(0, len(frontier), page):
            for r in execute(store, "incremental/touching", {"ids": frontier[start:start + page]}, read_only=True):
                if r["predicted"] and r["status"] != "accepted":
                    predicted.add((r["head"], r["rel"], r["tail"], r["run_id"]))
                else:
                    facts.add((r["head"], r["rel"], r["tail"]))
                    reached.update((r["head"], r["tail"]))
        frontier = sorted(reached - seen)
        seen |= reached
    nodes = {}
    ids = sorted(set(centers) | {n for n in seen if n not in known})
    for start in range(0, len(ids), page):
        for r in execute(store, "incremental/nodes_by_id", {"ids": ids[start:start + page]}, read_only=True):
            nodes[r["id"]] = (r["label"] or "Thing", r["name"], r["description"])
    return Neighbourhood(centers, nodes, sorted(facts), sorted(predicted))


# ---- one tick ---------------------------------------------------------------------------------------------------

def score_new(store: GraphStore, settings: Settings, cache: BaseCache | None = None, *,
              check_drift: bool = True) -> dict:
    """One tick: score what changed since the watermark with the newest trained model and write it back.
    Returns a summary ({status: 'no-model' | 'idle' | 'scored', ...})."""
    started = time.perf_counter()
    row = latest_base_row(store, settings)
    if row is None:
        return {"status": "no-model", "message": "no completed run with its model in "
                f"{runs_location(settings)}; train one with `kgp pipeline` (or a pipeline job) first"}
    base = (cache or BaseCache()).get(settings, row)
    load_s = round(time.perf_counter() - started, 4)
    mark = read_watermark(store)
    since, until = max(int(mark["at"] or 0), base.created_at), int(mark["now"])
    pending = ingests_in_progress(store)
    if pending:  # half-loaded data waits: the window ends before the oldest unfinished ingest began
        until = max(since, min(until, min(int(i["started_at"]) for i in pending) - 1))
    result = score_window(store, settings, base, since, until)
    result["timings_s"] = {"load": load_s, **result["timings_s"]}
    if pending:
        result["waiting_for_ingests"] = [{"id": i["id"], "source": i["source"], "status": i["status"]}
                                         for i in pending]
    if result["status"] == "idle":
        set_watermark(store, until, mark["run_id"], base.run_id)
    elif check_drift:
        result["drift"] = measure_drift(store, settings, base)
        out = RunDir.of(settings.runs_dir, result["run_id"])
        out.write_json(RunDir.SUMMARY, result)
        publish(settings, out, RunDir.SUMMARY)
    return result


def score_window(store: GraphStore, settings: Settings, base: BaseRun, since: int, until: int) -> dict:
    """Score the nodes changed in (since, until], write their edges, then move the watermark to ``until``.
    Running it again for the same window (a redo after a crash) writes under the same run id: no duplicates."""
    started = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        timings[name] = round(time.perf_counter() - started - sum(timings.values()), 4)

    summary = {"base_run": base.run_id, "model": base.model_name, "window": {"since": since, "until": until}}
    centers = changed_ids(store, since, until)
    lap("changes")
    if not centers:
        return {"status": "idle", **summary, "changed": 0, "timings_s": timings}

    run_id = incremental_run_id(base.run_id, since)
    hood = read_neighbourhood(store, centers, base.hops, known=base.index)
    lap("neighbourhood")
    new_ids, texts, skipped = new_node_texts(base, hood)
    changed = changed_texts(base, hood)
    encoder = base.cfg.encoder or settings.embed_model  # the base run's: its vectors and these must agree
    vectors = encode_texts(texts + list(changed.values()), encoder, settings.cache_dir, device=device_of(settings)) \
        if base.model.text_x is not None and (texts or changed) else None
    new_x = vectors[:len(texts)] if vectors is not None else None
    changed_x = {i: vectors[len(texts) + j] for j, i in enumerate(changed)} if vectors is not None else {}
    lap("encode")
    prepared = extend(base, hood, new_ids, texts, new_x, changed_x, run_id)
    degree = Counter(x for h, _, t in hood.facts for x in (h, t))
    predictions = [{**p, "method": METHOD, "evidence": evidence(p, degree[p["head"]])}
                   for p in score(base, prepared)]
    lap("score")

    config = {"base_run": base.run_id, "window": summary["window"], "watermark": WATERMARK}
    record_run(store, run_id=run_id, model=base.model_name, config=config, metrics={}, counts={}, status="running",
               snapshot_hash=base.snapshot_hash, method=METHOD)
    out = RunDir.of(settings.runs_dir, run_id).create()
    out.save_predictions(predictions)
    written = write_predictions(store, predictions, run_id=run_id, model=base.model_name, method=METHOD,
                                batch_size=settings.write_batch_size, pause_s=settings.write_pause_s)
    lap("write")
    counts = {"changed": len(centers), "predicted": len(predictions), "written_per_type": written,
              **prepared.stats, "skipped": skipped}
    record_run(store, run_id=run_id, model=base.model_name, config=config,
               metrics={"timings_s": timings, "window": summary["window"]}, counts=counts, status="completed",
               snapshot_hash=base.snapshot_hash, method=METHOD)
    set_watermark(store, until, run_id, base.run_id)
    lap("watermark")
    result = {"status": "scored", "run_id": run_id, **summary, **counts, "timings_s": timings}
    out.write_json(RunDir.SUMMARY, result)
    publish(settings, out, RunDir.PREDICTIONS, RunDir.SUMMARY)
    return result


def evidence(prediction: dict, head_edges: int) -> str:
    """Short provenance for an incremental edge (full explanations come with the next full run)."""
    mention = prediction.get("mention") or prediction.get("evidence") or ""
    return (f"incremental, model of base run {prediction['base_run']}: p={prediction['probability']:.2f} from the "
            f"head's text and its {head_edges} known edge{'s' if head_edges != 1 else ''}"
            + (f"; {mention}" if mention else ""))


def base_run_summary(store: GraphStore, settings: Settings) -> dict:
    """For `kgp watch`'s banner: the model the next tick will use and the current watermark."""
    row = latest_base_row(store, settings)
    mark = read_watermark(store)
    if row is None:
        raise KgpError(f"no completed run with its model in {runs_location(settings)}; run `kgp pipeline` first")
    return {"base_run": row["run_id"], "model": row["model"], "watermark": mark["at"]}

