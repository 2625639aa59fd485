"""`kgp bench finetune`: text-only completion before and after fine-tuning the encoder on a dataset's train edges.

The dataset is ingested into a graph of its own and fine-tuned on exactly as `kgp finetune-text` does
(pipeline/finetune_step.py). Before and after are ranked on the same test split, among every node, filtered
and type-constrained; the budget and the learning curve (validation MRR among a fixed node sample) are kept.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from kgplatform.bench.linkpred import graph_name_for
from kgplatform.graph.store import open_store
from kgplatform.ingest.load import ingest_path
from kgplatform.pipeline.finetune_step import finetune_text_step
from kgplatform.progress import ProgressFn
from kgplatform.settings import Settings
from kgplatform.text.finetune import FinetuneConfig

# Published text-based completion on WN18RR (MRR), from the issue that asked for this benchmark.
PUBLISHED = {"wn18rr": {"KG-BERT": 0.216, "StAR": 0.401, "SimKGC": 0.666}}


def run_finetune_bench(settings: Settings, data: Path, cfg: FinetuneConfig,
                       progress: ProgressFn | None = None) -> dict:
    store = open_store(settings, graph=graph_name_for(data))
    try:
        store.delete_graph()  # the same split every time
        ingest_path(store, data, batch_size=settings.write_batch_size, progress=progress)
        record = finetune_text_step(store, settings, cfg, progress, test_max_triples=None)
    finally:
        store.close()
    keys = ("mrr", "hits@1", "hits@10", "count")
    return {"dataset": Path(data).resolve().name,
            "before": {k: record["test"]["before"][k] for k in keys if k in record["test"]["before"]},
            "after": {k: record["test"]["after"][k] for k in keys if k in record["test"]["after"]},
            "finetune_s": record["finetune_s"], "seconds": record["seconds"], "steps": record["steps"],
            "stopped": record["stopped"], "config": record["config"], "curve": record["curve"],
            "valid": record["valid"], "encoder": Path(record["encoder"]).name, "base_encoder": record["base_encoder"],
            "nodes": record["nodes"], "edges": record["edges"], "cpus": os.cpu_count(),
            "load_average": round(os.getloadavg()[1], 2)}


def merge_results(path: Path, report: dict) -> dict:
    """finetune.json keyed by dataset: this report replaces its dataset's entry, the others stay."""
    results = json.loads(path.read_text()) if path.is_file() else {}
    results[report["dataset"]] = {k: v for k, v in report.items() if k != "dataset"}
    path.write_text(json.dumps(results, indent=2) + "\n")
    return results


def render_finetune_markdown(results: dict) -> str:
    lines = ["# Text encoder fine-tuned on the graph: text-only completion", "",
             "Regenerate a row with `kgp bench finetune --data ../shared/datasets/DATASET --time-budget S "
             "--out bench/results/finetune.json --md bench/results/finetune.md`. Test split, filtered and "
             "type-constrained, ranked among every node by the cosine of `head text [SEP] relation` and the tail's "
             "text; before = the frozen encoder, after = fine-tuned on the train edges (text/finetune.py).", "",
             "| dataset | MRR before | MRR after | Hits@10 before | Hits@10 after | fine-tuning (s) | steps | "
             "batch | seq | frozen layers | stopped |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in sorted(results.items()):
        c = r["config"]
        lines.append(f"| {name} | {r['before']['mrr']:.3f} | {r['after']['mrr']:.3f} | {r['before']['hits@10']:.3f} "
                     f"| {r['after']['hits@10']:.3f} | {r['finetune_s']:.0f} | {r['steps']} | {c['batch_size']} | "
                     f"{c['max_seq_length']} | {c['freeze_layers']} | {r['stopped']} |")
    lines += ["", "Learning curves (validation MRR among a fixed sample of nodes, so higher than test's):", ""]
    for name, r in sorted(results.items()):
        points = ", ".join(f"{p['seconds']:.0f} s: {p['valid_mrr']:.3f}" for p in r["curve"])
        lines.append(f"- {name}: before {r['valid']['before']['mrr']:.3f}; {points}")
    published = [f"{name}: " + ", ".join(f"{m} {v:.3f}" for m, v in refs.items()) for name, refs in PUBLISHED.items()]
    lines += ["", "Published text-based MRR for comparison: " + "; ".join(published) + ".", ""]
    return "\n".join(lines)
