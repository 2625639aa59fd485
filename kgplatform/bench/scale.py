"""`kgp bench scale`: the synthetic catalogue (demo/scale.py) at growing sizes, end to end on one store.

Per size: generate; ingest, export and write-back each timed beside a raw client loop over the same data
(bench/storeio.py); then the pipeline's own steps (export, featurize, train, score, write-back) on the ingested
graph. Every stage has its wall time and peak RSS, of this process and of the store's server (bench/memory.py);
the trained model's filtered test MRR is on the catalogue's held-out 1 %.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import torch

from kgplatform.bench.memory import StageMeter
from kgplatform.bench.storeio import measure_store_io
from kgplatform.demo.scale import generate_scale_catalog, write_scale_dataset
from kgplatform.graph.store import embedded_server, open_store
from kgplatform.learn.candidates import candidate_recall, domain_heads
from kgplatform.learn.index import relation_ranges
from kgplatform.pipeline.config import PipelineConfig
from kgplatform.pipeline.rundir import RunDir
from kgplatform.pipeline.stages import candidate_search
from kgplatform.pipeline.steps import (
    export_step,
    featurize_step,
    load_model,
    run_dir_of,
    score_step,
    train_step,
    writeback_step,
)
from kgplatform.progress import ProgressFn
from kgplatform.settings import Settings

# The order stages run in (the JSON keeps them sorted by name).
STAGES = ("generate", "raw-ingest", "ingest", "raw-export", "export", "raw-writeback", "writeback", "pipeline-export",
          "pipeline-featurize", "pipeline-train", "pipeline-score", "pipeline-writeback", "ann-recall")
# What a user's run costs, generation to written edges: the raw loops and the I/O benchmark's own export and
# write-back are measurement, and ann-recall checks the index.
PIPELINE_STAGES = ("generate", "ingest", "pipeline-export", "pipeline-featurize", "pipeline-train", "pipeline-score",
                   "pipeline-writeback")


# Samples that keep evaluation and calibration a bounded cost at any size (recorded with the results).
VALID_TRIPLES, TEST_TRIPLES, CALIBRATION_QUERIES = 2000, 5000, 20_000


def scale_pipeline_config(time_budget_s: float, use_text: bool, text_budget_s: float | None = None,
                          dim: int | None = None) -> PipelineConfig:
    """The default pipeline with the benchmark's budget; the input race is off so that the budget is the model's.
    Validation, test and calibration read seeded samples (VALID_TRIPLES, TEST_TRIPLES, CALIBRATION_QUERIES)."""
    base = PipelineConfig()
    train = {"time_budget_s": time_budget_s, "use_text": use_text, "choose_inputs": False,
             "text_budget_s": text_budget_s, "valid_max_triples": VALID_TRIPLES, "test_max_triples": TEST_TRIPLES}
    if dim is not None:
        train["dim"] = dim
    return base.model_copy(update={"train": base.train.model_copy(update=train),
                                   "calibration_max_queries": CALIBRATION_QUERIES})


def run_scale_size(settings: Settings, size: int, workdir: Path, cfg: PipelineConfig, *, score_shards: int = 1,
                   progress: ProgressFn | None = None) -> dict:
    """One size end to end; the graphs it makes are deleted afterwards, the dataset folder too.

    score_shards > 1: only shard 0 of that many is scored and written back (what one of that many workers does,
    pipeline/steps.py), and the result says so; the stage's wall time is that one shard's."""
    folder = workdir / f"scale-{size}"
    graph = f"scale{size}"
    local = settings.model_copy(update={"graph": graph})

    def open_graph(name: str):
        store = open_store(local, graph=name)
        store.delete_graph()  # a rerun starts from an empty graph
        return open_store(local, graph=name)

    open_graph(graph).close()  # starts the embedded server when it is the store
    pid = embedded_server(local).status().get("pid") if local.backend == "falkordb" else None
    meter = StageMeter(pid)
    load_at_start = os.getloadavg()[1]
    started = time.perf_counter()
    try:
        with meter.stage("generate"):
            counts = write_scale_dataset(generate_scale_catalog(size), folder)
        io = measure_store_io(local, open_graph, folder, batch_size=local.write_batch_size,
                              page_size=local.page_size, writeback_count=max(2000, size // 50),
                              stage=meter.stage, progress=progress)
        io.pop("snapshot")
        run_id = f"scale-{size}-{int(time.time())}"
        store = open_store(local, graph=io["graph"])
        try:
            with meter.stage("pipeline-export"):
                export_step(store, local, run_id, cfg, progress)
            with meter.stage("pipeline-featurize"):
                features = featurize_step(local, run_id, progress)["features"]
            with meter.stage("pipeline-train"):
                train = train_step(local, run_id, progress)
            with meter.stage("pipeline-score"):
                score_step(local, run_id, 0, score_shards, progress)
            if score_shards > 1:  # write back the one shard scored, as a run of one shard
                out = run_dir_of(local, run_id)
                shutil.copyfile(out.shard_file(0, score_shards), out.shard_file(0, 1))
                shutil.copyfile(out.hist_file(0, score_shards), out.hist_file(0, 1))
            with meter.stage("pipeline-writeback"):
                written = writeback_step(store, local, run_id, 1, progress)
            with meter.stage("ann-recall"):
                recall = ann_recall(local, run_id)
        finally:
            store.delete_graph()
            store.close()
    finally:
        meter.close()
        shutil.rmtree(folder, ignore_errors=True)
    test = train.get("test", {})
    stage_s = {name: st["wall_s"] for name, st in meter.stages.items()}
    return {"pipeline_wall_s": round(sum(stage_s.get(name, 0.0) for name in PIPELINE_STAGES), 1),
            "score_shards": score_shards, "text_off": features.get("text_off"),
            "text_estimate": features.get("estimate"),
            "samples": {"valid_triples": cfg.train.valid_max_triples, "test_triples": cfg.train.test_max_triples,
                        "calibration_queries": cfg.calibration_max_queries},
            "dim": cfg.train.dim, "relationships": counts["relationships"], "entities": counts["entities"],
            "products": counts["products"], "wall_s": round(time.perf_counter() - started, 1),
            "peak_rss_gb": meter.peak_gb(),
            "store_peak_rss_gb": max(s["store_rss_gb"] for s in meter.stages.values()),
            "stages": meter.stages,
            "io_ratio": {stage: io[stage]["ratio"] for stage in ("ingest", "export", "writeback")},
            "io": {stage: io[stage] for stage in ("ingest", "export", "writeback")},
            "ann_recall@10": recall,
            "candidate_search": run_dir_of(local, run_id).read_json(RunDir.METRICS, {}).get("candidate_search"),
            "test_mrr": test.get("mrr"), "test_hits@10": test.get("hits@10"),
            "best_epoch": train.get("best_epoch"), "stopped_reason": train.get("stopped_reason"),
            "written": sum(written["written_per_type"].values()), "run_id": run_id,
            "train_budget_s": cfg.train.time_budget_s,
            "use_text": cfg.train.use_text and not features.get("text_off"),
            "machine": {"cpus": os.cpu_count(), "load_avg_5min": {"start": load_at_start, "end": os.getloadavg()[1]}}}


def ann_recall(settings: Settings, run_id: str, sample: int = 300, seed: int = 0) -> dict[str, float]:
    """Per relation whose tail range is big enough for 'auto' to search an index: recall@k of the ANN path against
    exact scoring, on a seeded sample of its heads (the trained model and node states of the run)."""
    out = run_dir_of(settings, run_id)
    cfg, snapshot = out.load_config(), out.load_snapshot()
    model = load_model(out, snapshot, cfg)
    z = out.load_tensor(RunDir.NODE_STATES)
    sizes = relation_ranges(snapshot, splits=None).sum(1)
    gen = torch.Generator().manual_seed(seed)
    recall = {}
    for rel, name in enumerate(snapshot.rel_names):
        if int(sizes[rel]) < cfg.ann_min_tails:
            continue
        heads = domain_heads(snapshot, rel)
        heads = heads[torch.randperm(len(heads), generator=gen)[:sample]]
        recall[name] = round(candidate_recall(model, z, snapshot, rel, heads, cfg.top_k,
                                              search=candidate_search(cfg)), 4)
    return recall


def merge_results(path: Path, size: int, result: dict) -> dict:
    results = json.loads(path.read_text()) if path.is_file() else {}
    results.setdefault("sizes", {})[str(size)] = result
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return results


def render_scale_markdown(results: dict) -> str:
    sizes = sorted(results.get("sizes", {}).items(), key=lambda kv: int(kv[0]))
    lines = ["# Scale: the synthetic catalogue end to end (`kgp bench scale`)", "",
             "I/O ratio: the platform's rate over a raw client loop's on the same data and store, in the same run "
             "(1.0 = as fast). RSS: peak resident memory of the benchmark process; the store's server beside it.", "",
             "Pipeline s: generation, ingest and the pipeline's steps, what a user's run costs (the raw loops, the "
             "I/O benchmark's own export and write-back, and the ANN recall check are left out; wall s has them).",
             "",
             "| relationships | products | wall s | pipeline s | peak RSS GB | store RSS GB | ingest | export "
             "| write-back | test MRR | Hits@10 | text | scored |", "|---" * 13 + "|"]
    for size, r in sizes:
        ratio = r["io_ratio"]
        pipeline = sum(r["stages"].get(name, {}).get("wall_s", 0.0) for name in PIPELINE_STAGES)
        text = "off (budget)" if r.get("text_off") else ("on" if r.get("use_text") else "off")
        shards = r.get("score_shards", 1)
        scored = "all heads" if shards == 1 else f"shard 1 of {shards}"
        lines.append(f"| {int(size):,} | {r['products']:,} | {r['wall_s']:,.0f} | {pipeline:,.0f} | "
                     f"{r['peak_rss_gb']:.2f} | {r['store_peak_rss_gb']:.2f} | {ratio['ingest']:.2f} | "
                     f"{ratio['export']:.2f} | {ratio['writeback']:.2f} | {_num(r['test_mrr'])} | "
                     f"{_num(r['test_hits@10'])} | {text} | {scored} |")
    lines += ["", "## Stages", ""]
    for size, r in sizes:
        lines += [f"### {int(size):,} relationships", "", "| stage | wall s | peak RSS GB | store RSS GB |",
                  "|---|---|---|---|"]
        lines += [f"| {name} | {s['wall_s']:,.1f} | {s['peak_rss_gb']:.2f} | {s['store_rss_gb']:.2f} |"
                  for name, s in sorted(r["stages"].items(), key=lambda kv: _stage_order(kv[0]))]
        recall = ", ".join(f"{rel} {value:.3f}" for rel, value in sorted(r.get("ann_recall@10", {}).items()))
        load = r.get("machine", {}).get("load_avg_5min", {})
        lines += ["", f"Candidates: {_searched(r.get('candidate_search'))}; ANN recall@10 against exact scoring "
                  f"(300 heads): {recall or 'no relation searched by an index'}. Written edges: {r['written']:,}; "
                  f"training stopped at epoch {r.get('best_epoch')} ({r.get('stopped_reason')}, budget "
                  f"{r.get('train_budget_s'):.0f} s); text {'on' if r.get('use_text') else 'off'}; load average "
                  f"{load.get('start', 0):.1f} -> {load.get('end', 0):.1f} on {r.get('machine', {}).get('cpus')} "
                  "cores."]
        if r.get("text_off"):
            lines += ["", f"Text: {r['text_off']}."]
        if r.get("score_shards", 1) > 1:
            lines += ["", f"Scored: shard 1 of {r['score_shards']} (the heads one of {r['score_shards']} score "
                      "workers takes); its edges were written back."]
        if r.get("samples"):
            sample = r["samples"]
            lines += ["", f"Samples: validation {sample['valid_triples']:,} triples, test {sample['test_triples']:,} "
                      f"triples, calibration {sample['calibration_queries']:,} queries (seeded); dim {r.get('dim')}."]
        io = r["io"]
        lines += ["", "| I/O | platform items/s | raw items/s | ratio |", "|---|---|---|---|"]
        lines += [f"| {stage} | {io[stage]['platform']['per_s']:,.0f} | {io[stage]['raw']['per_s']:,.0f} | "
                  f"{io[stage]['ratio']:.2f} |" for stage in ("ingest", "export", "writeback")]
        lines.append("")
    return "\n".join(lines) + "\n"


def _stage_order(name: str) -> int:
    return STAGES.index(name) if name in STAGES else len(STAGES)


def _searched(report: dict | None) -> str:
    modes = (report or {}).get("write") or {}
    ann = sorted(rel for rel, mode in modes.items() if mode == "ann")
    return f"ANN for {', '.join(ann)}, exact for the rest" if ann else "exact scoring for every relation"


def _num(value) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else "—"
