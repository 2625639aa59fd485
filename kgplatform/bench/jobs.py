"""`kgp bench jobs`: one pipeline in-process, then as a queue job on 1 and on 2 worker processes, same config.

Each mode starts from the same graph (the previous mode's run is retracted) with a warm embedding cache, and is
split per stage from the steps' own wall-clock windows (step-*.json). Queue overhead = job wall-clock minus the
time covered by the stages: dispatch, broker round trips and result bookkeeping between steps.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch

from kgplatform.bench.worker_process import WorkerProcess
from kgplatform.graph.export import export_snapshot
from kgplatform.graph.runs import retract_run
from kgplatform.graph.store import embedded_broker, open_store
from kgplatform.ingest.load import ingest_path
from kgplatform.learn.config import TrainConfig
from kgplatform.pipeline.config import PipelineConfig
from kgplatform.pipeline.rundir import RunDir
from kgplatform.pipeline.runstore import open_run
from kgplatform.pipeline.stages import featurize
from kgplatform.pipeline.steps import run_pipeline
from kgplatform.progress import ProgressFn
from kgplatform.settings import Settings
from workers import jobs

STAGES = ("export", "featurize", "train", "score", "writeback")
BENCH_BROKER_DBS = (13, 14)  # a broker of its own in the embedded broker: real workers on db 1/2 are untouched


def stage_windows(run_dir: RunDir, num_shards: int) -> dict[str, tuple[float, float]]:
    windows = {}
    for stage in STAGES:
        names = [f"score-{i:03d}" for i in range(num_shards)] if stage == "score" else [stage]
        steps = [run_dir.read_step(name) for name in names]
        windows[stage] = (min(s["started_at"] for s in steps), max(s["finished_at"] for s in steps))
    return windows


def summarize(run_dir: RunDir, num_shards: int, wall_s: float) -> dict:
    windows = stage_windows(run_dir, num_shards)
    stage_wall = {stage: round(end - start, 3) for stage, (start, end) in windows.items()}
    score_compute = sum(run_dir.read_step(f"score-{i:03d}")["seconds"] for i in range(num_shards))
    metrics = run_dir.read_json(RunDir.METRICS)
    covered = sum(stage_wall.values())
    return {"wall_s": round(wall_s, 3), "stage_wall_s": stage_wall, "score_compute_s": round(score_compute, 3),
            "overhead_s": round(wall_s - covered, 3), "overhead_share": round((wall_s - covered) / wall_s, 4),
            "written": metrics["counts"]["predicted"], "test_mrr": (metrics.get("test") or {}).get("mrr")}


def worker_env(settings: Settings) -> dict[str, str]:
    env = {k: str(v) for k, v in settings.model_dump(by_alias=True).items() if v is not None}
    if settings.broker_is_embedded:
        embedded_broker(settings).start()
        env["KGP_BROKER_URL"], env["KGP_RESULT_BACKEND"] = (settings.embedded_broker_url(db) for db in BENCH_BROKER_DBS)
    return env


def run_on_workers(settings: Settings, cfg: PipelineConfig, workers: int, num_shards: int, log_dir: Path,
                   poll_s: float = 0.2) -> tuple[str, float]:
    import redis

    env = worker_env(settings)
    # Share the cores out between the worker processes (each torch would otherwise use them all).
    env["KGP_TORCH_THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))
    client = Settings(**env)
    for url in (client.broker, client.results):
        redis.Redis.from_url(url).flushdb()
    processes = [WorkerProcess(env, log_dir / f"workers{workers}-{i}.log").start() for i in range(workers)]
    try:
        started = time.perf_counter()
        job_id = jobs.submit_pipeline(client, cfg, num_shards=num_shards)["job_id"]
        while (status := jobs.job_status(client, job_id))["state"] not in jobs.TERMINAL:
            time.sleep(poll_s)
        wall = time.perf_counter() - started
    finally:
        for p in processes:
            p.stop()
    if status["state"] != "SUCCESS":
        raise RuntimeError(f"benchmark job {job_id} ended {status['state']}: {status.get('error')}")
    return job_id, wall


def run_jobs_benchmark(settings: Settings, data: Path, *, time_budget: float, num_shards: int = 4,
                       progress: ProgressFn | None = None, log: Callable[[str], None] = print) -> dict:
    settings = settings.model_copy(update={"graph": "bench_jobs_" + data.name.replace("-", "_")})
    store = open_store(settings)
    if store.backend == "falkordb":
        store.delete_graph()
    ingest = ingest_path(store, data, batch_size=settings.write_batch_size, progress=progress)
    cfg = PipelineConfig(train=TrainConfig(time_budget_s=time_budget, seed=0))
    featurize(export_snapshot(store, page_size=settings.page_size), settings, cfg.train)  # warm the cache
    modes = []

    def measured(mode: str, workers: int, run_id: str, wall: float) -> None:
        entry = {"mode": mode, "workers": workers, "run_id": run_id,
                 **summarize(open_run(settings, run_id), num_shards, wall)}
        modes.append(entry)
        log(f"{mode}: {entry['wall_s']:.1f} s wall, overhead {entry['overhead_s']:.1f} s")
        retract_run(store, run_id)  # the next mode starts from the same graph

    started = time.perf_counter()
    result = run_pipeline(store, settings, cfg, num_shards=num_shards, progress=progress)
    measured("in-process", 0, result.run_id, time.perf_counter() - started)  # torch's default threads: all cores
    for workers in (1, 2):
        job_id, wall = run_on_workers(settings, cfg, workers, num_shards, settings.home / "bench" / "logs")
        measured(f"queue, {workers} worker{'s' if workers > 1 else ''}", workers, job_id, wall)
    base = modes[0]["wall_s"]
    for m in modes:
        m["wall_ratio_vs_in_process"] = round(m["wall_s"] / base, 3)
    return {"benchmark": "jobs", "dataset": data.name, "entities": ingest["entities"], "triples": ingest["triples"],
            "time_budget_s": time_budget, "score_shards": num_shards, "modes": modes,
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                        "torch_threads": torch.get_num_threads()},
            "date": time.strftime("%Y-%m-%d", time.gmtime())}


def render_jobs_markdown(report: dict) -> str:
    lines = [f"Pipeline on `{report['dataset']}` ({report['entities']:,} entities, {report['triples']:,} triples), "
             f"training budget {report['time_budget_s']:.0f} s, {report['score_shards']} score shards, "
             f"{report['machine']['cpus']} CPUs; {report['date']}. Seconds of wall-clock.", "",
             "| mode | wall | ratio | export | featurize | train | score | writeback | queue overhead |",
             "|---|---|---|---|---|---|---|---|---|"]
    for m in report["modes"]:
        s = m["stage_wall_s"]
        lines.append(f"| {m['mode']} | {m['wall_s']:.1f} | {m['wall_ratio_vs_in_process']:.2f} | "
                     + " | ".join(f"{s[k]:.1f}" for k in STAGES)
                     + f" | {m['overhead_s']:.1f} ({100 * m['overhead_share']:.1f} %) |")
    return "\n".join(lines) + "\n"
