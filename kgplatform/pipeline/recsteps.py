"""A recommendation run's steps with their I/O: what `kgp recommend-run` runs in-process and the Celery chain runs
on workers.

export -> featurize -> train (+ test figures) -> score shard 0..n-1 (users split by index) -> write-back

Like pipeline/steps.py: each step reads the run directory, calls pure functions (kgplatform/recommend), writes its
outputs atomically and returns a JSON-able summary; write-back MERGEs on the run id, so every step can be rerun.
"""

from __future__ import annotations

import time

import torch

from kgplatform.devices import CPU, device_of
from kgplatform.errors import KgpError
from kgplatform.graph.export_behaviour import export_recdata
from kgplatform.graph.recommendations import write_recommendations
from kgplatform.graph.runs import fail_dead_runs, new_run_id, process_owner, record_run
from kgplatform.graph.store import GraphStore
from kgplatform.graph.vectors import replace_embeddings
from kgplatform.pipeline.rundir import RunDir
from kgplatform.pipeline.runstore import synced_run
from kgplatform.pipeline.steps import mark_run, run_dir_of
from kgplatform.progress import ProgressFn
from kgplatform.recommend.config import RecRunConfig, rec_model_name
from kgplatform.recommend.data import leave_last_out
from kgplatform.recommend.evaluate import evaluate
from kgplatform.recommend.evidence import explain_recommendations
from kgplatform.recommend.rank import final_vectors, recommend_top_n, shard_users
from kgplatform.recommend.train import build_model, score_function, train_recommender
from kgplatform.settings import Settings
from kgplatform.text.embeddings import encode_texts

METHOD = "kg-recommender"


def rec_export_step(store: GraphStore, settings: Settings, run_id: str, cfg: RecRunConfig,
                    progress: ProgressFn | None = None, owner: str | None = None) -> dict:
    started = time.perf_counter()
    out = run_dir_of(settings, run_id)
    name = rec_model_name(cfg.train)
    cfg = cfg.model_copy(update={"encoder": cfg.encoder or settings.embed_model})  # later steps read this one
    out.write_json(RunDir.CONFIG, {"run_id": run_id, "kind": "recommend", "graph": store.graph_name,
                                   "backend": store.backend, "model": name, **cfg.model_dump()})
    data = export_recdata(store, item_label=cfg.item_label, behaviour_types=cfg.behaviour_types or None,
                          page_size=settings.page_size, progress=progress,
                          predicted_min_probability=cfg.predicted_min_probability)
    if not len(data.interactions):
        raise KgpError(f"graph {store.graph_name!r} ({store.backend}) has no behaviour to learn from; load "
                       "interactions with `kgp ingest FILE` (CSV/TSV/JSONL with user and item columns)")
    data = data.with_split(leave_last_out(data))  # logs without splits: the latest two per user are held out
    out.save_recdata(data)
    data_hash = data.content_hash()
    record_run(store, run_id=run_id, model=name, config=cfg.model_dump(), metrics={}, counts={}, status="running",
               snapshot_hash=data_hash, method=METHOD, owner=owner)
    return out.record_step("export", {"users": data.num_users, "items": data.num_items,
                                      "entities": data.num_entities, "interactions": len(data.interactions),
                                      "kg_triples": len(data.kg), "snapshot_hash": data_hash}, started)


def rec_featurize_step(settings: Settings, run_id: str, progress: ProgressFn | None = None) -> dict:
    started = time.perf_counter()
    out = run_dir_of(settings, run_id)
    cfg = out.load_rec_config()
    stats: dict = {}
    text_x = None
    if cfg.train.use_text:
        text_x = encode_texts(out.load_recdata().entity_text, cfg.encoder or settings.embed_model, settings.cache_dir,
                              batch_size=settings.embed_batch_size, progress=progress, stats=stats,
                              device=device_of(settings))
    out.save_tensor(RunDir.FEATURES, text_x)
    return out.record_step("featurize", {"features": stats}, started)


def rec_train_step(settings: Settings, run_id: str, progress: ProgressFn | None = None) -> dict:
    """Train (early stop on valid Recall@20), evaluate on test, and keep the vectors propagated over all
    behaviour, which scoring ranks with."""
    started = time.perf_counter()
    out = run_dir_of(settings, run_id)
    cfg = out.load_rec_config()
    data = out.load_recdata()
    train_progress = (lambda stage, done, total, entry: progress(stage, done, total)) if progress else None
    device = device_of(settings)
    result = train_recommender(data, cfg.train, text_x=out.load_tensor(RunDir.FEATURES), progress=train_progress,
                               device=device)
    figures = evaluate(score_function(result.model), data)
    out.save_tensor(RunDir.MODEL, result.model.state_dict())
    users, entities = final_vectors(result.model, data)
    out.save_tensor(RunDir.REC_VECTORS, {"users": users, "entities": entities})  # saved on the CPU
    return out.record_step("train", {**figures, "best_valid": result.best_valid, "best_epoch": result.best_epoch,
                                     "stopped_reason": result.stopped_reason, "history": result.history,
                                     "train_seconds": result.train_seconds, "device": str(device)}, started)


def rec_score_step(settings: Settings, run_id: str, shard: int = 0, num_shards: int = 1,
                   progress: ProgressFn | None = None) -> dict:
    started = time.perf_counter()
    out = run_dir_of(settings, run_id)
    cfg = out.load_rec_config()
    data = out.load_recdata()
    vectors = out.load_tensor(RunDir.REC_VECTORS)
    users = shard_users(data.num_users, shard, num_shards)
    device = device_of(settings)
    rows = recommend_top_n(vectors["users"].to(device), vectors["entities"].to(device), data, users, cfg.top_n)
    history = _user_items(data)
    evidence = explain_recommendations(data, history, [(u, i) for u, i, _, _ in rows],
                                       vectors["entities"][: data.num_items])
    recs = [{"user": data.user_ids[u], "item": data.entity_ids[i], "rank": rank, "score": round(score, 6),
             "evidence": why} for (u, i, rank, score), why in zip(rows, evidence)]
    out.write_jsonl(out.shard_file(shard, num_shards), recs)
    if progress:
        progress("score users", len(users), len(users))
    return out.record_step(f"score-{shard:03d}", {"shard": shard, "num_shards": num_shards, "users": len(users),
                                                  "recommendations": len(recs)}, started)


def _user_items(data) -> dict[int, list[int]]:
    history: dict[int, list[int]] = {}
    for u, i in torch.unique(data.interactions, dim=0).tolist():
        history.setdefault(u, []).append(i)
    return history


def rec_writeback_step(store: GraphStore, settings: Settings, run_id: str, num_shards: int = 1,
                       progress: ProgressFn | None = None) -> dict:
    """Write every shard's recommendations (replacing each user's older ones) and every entity's vector (replacing
    older runs'), and complete the run."""
    started = time.perf_counter()
    out = run_dir_of(settings, run_id)
    cfg = out.load_rec_config()
    name = out.model_name()
    missing = [i for i in range(num_shards) if not out.shard_file(i, num_shards).is_file()]
    if missing:
        raise KgpError(f"run {run_id}: score shards missing: {missing}")
    recs = [r for i in range(num_shards) for r in out.read_jsonl(out.shard_file(i, num_shards))]
    out.write_jsonl(RunDir.RECOMMENDATIONS, recs)
    written = write_recommendations(store, recs, run_id=run_id, model=name, method=METHOD,
                                    batch_size=settings.write_batch_size, progress=progress)
    # Every entity's vector (items and KG entities) under the store's vector index, for Cypher similarity queries.
    entity_vectors = out.load_tensor(RunDir.REC_VECTORS)["entities"]
    embedded = replace_embeddings(store, out.load_recdata().entity_ids, entity_vectors, run_id,
                                  batch_size=settings.write_batch_size, progress=progress)
    summary = out.record_step("writeback", {"recommendations": len(recs), "written": written,
                                            "embeddings": embedded["embeddings"], "embedding_index": embedded["index"]},
                              started)
    steps = out.step_summaries()
    train = steps["train"]
    timings = {k: v["seconds"] for k, v in steps.items()}
    metrics = {"test": train["test"], "ctr": train["ctr"], "best_valid": train["best_valid"],
               "best_epoch": train["best_epoch"], "stopped_reason": train["stopped_reason"], "timings_s": timings,
               "snapshot_hash": steps["export"]["snapshot_hash"], "device": train.get("device", "cpu")}
    counts = {"recommendations": len(recs), "users": steps["export"]["users"], "items": steps["export"]["items"],
              "interactions": steps["export"]["interactions"]}
    out.write_json(RunDir.METRICS, {**metrics, "counts": counts, "history": train["history"]})
    record_run(store, run_id=run_id, model=name, config=cfg.model_dump(), metrics=metrics, counts=counts,
               status="completed", snapshot_hash=metrics["snapshot_hash"], method=METHOD)
    return summary


def run_recommend_pipeline(store: GraphStore, settings: Settings, cfg: RecRunConfig, *, run_id: str | None = None,
                           num_shards: int = 1, progress: ProgressFn | None = None) -> dict:
    """The whole chain in this process; returns metrics.json. A failure marks the run 'failed'."""
    fail_dead_runs(store)
    run_id = run_id or new_run_id()
    with synced_run(settings, run_id):  # published to KGP_RUNS_URL (when set) once complete
        rec_export_step(store, settings, run_id, cfg, progress, owner=process_owner())
        try:
            rec_featurize_step(settings, run_id, progress)
            rec_train_step(settings, run_id, progress)
            for shard in range(num_shards):
                rec_score_step(settings, run_id, shard, num_shards, progress)
            rec_writeback_step(store, settings, run_id, num_shards, progress)
        except BaseException:
            mark_run(store, run_id, "failed")
            raise
    return {"run_id": run_id, **RunDir.of(settings.runs_dir, run_id).read_json(RunDir.METRICS)}


def load_rec_model(out: RunDir, device: torch.device = CPU):
    """The run's trained recommender in eval mode on ``device`` (serving keeps it on the CPU: it ranks one user
    at a time through an item index)."""
    cfg, data = out.load_rec_config(), out.load_recdata()
    model = build_model(data, cfg.train, out.load_tensor(RunDir.FEATURES), device=device)
    model.load_state_dict(out.load_tensor(RunDir.MODEL))
    return model.eval()
