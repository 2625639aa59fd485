"""How often does the top-ranked evidence path of a written edge end with the predicted relation into the tail?

Runs real pipelines through the embedded store and reads the explanation figures of their write-back
(metrics.json "explanations", explanations.jsonl), then checks the written edges against held-out truth:

- demo: `kgp demo` as it is, then its catalog again with a lower precision target (more edges, more types); the
  catalog's held-back links are the truth;
- amazon-giftcards-2018: ingested without triples_test.tsv, so the test split is the truth (an edge not in it may
  still be right: Amazon's co-purchase lists are incomplete, so these precisions are lower bounds).

A written edge's top path "has the relation" when its last step is an asserted edge of the predicted type into the
tail: (head)-...-(x)-[:REL]->(tail). See kgplatform/explain.py.

    .venv/bin/python bench/run_explain.py [--time-budget 30] [--skip-dataset]

Writes bench/results/explain.json and bench/results/explain.md. Uses its own KGP_HOME (.kgp-bench-explain) and
FalkorDB port (6392), and stops that server at the end.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kgplatform.demo.catalog import generate_catalog, write_dataset  # noqa: E402
from kgplatform.demo.run import run_demo  # noqa: E402
from kgplatform.graph.store import embedded_server, open_store  # noqa: E402
from kgplatform.ingest.load import ingest_path  # noqa: E402
from kgplatform.learn.config import TrainConfig  # noqa: E402
from kgplatform.pipeline.config import PipelineConfig  # noqa: E402
from kgplatform.pipeline.rundir import RunDir  # noqa: E402
from kgplatform.pipeline.steps import run_pipeline  # noqa: E402
from kgplatform.settings import Settings  # noqa: E402

DATASET = REPO.parent / "shared" / "datasets" / "amazon-giftcards-2018"
RESULTS = REPO / "bench" / "results"


def share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def breakdown(run_dir: RunDir, truth: set[tuple[str, str, str]]) -> dict:
    """The run's explanation figures, per relation and against the truth."""
    predictions = run_dir.load_predictions()
    explanations = run_dir.read_jsonl(RunDir.EXPLANATIONS)
    metrics = run_dir.read_json(RunDir.METRICS)
    groups: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    per_relation: dict[str, dict] = defaultdict(lambda: {"edges": 0, "with_path": 0, "top_path_has_relation": 0})
    for p, e in zip(predictions, explanations):
        assert (p["head"], p["rel_type"], p["tail"]) == (e["head"]["id"], e["rel_type"], e["tail"]["id"])
        correct = (p["head"], p["rel_type"], p["tail"]) in truth
        kind = ("top path has the relation" if e["top_path_has_relation"] else
                "top path without it" if e["paths"] else "no path")
        groups["all"][kind].append(correct)
        groups[p["rel_type"]][kind].append(correct)
        r = per_relation[p["rel_type"]]
        r["edges"] += 1
        r["with_path"] += bool(e["paths"])
        r["top_path_has_relation"] += bool(e["top_path_has_relation"])
    for r in per_relation.values():
        r["top_path_has_relation_share"] = share(r["top_path_has_relation"], r["with_path"])
    precision = {rel: {kind: {"edges": len(v), "correct": sum(v), "precision": share(sum(v), len(v))}
                       for kind, v in sorted(kinds.items())} for rel, kinds in sorted(groups.items())}
    return {"run_id": run_dir.run_id, "explanations": metrics["explanations"], "per_relation": dict(per_relation),
            "precision_by_evidence": precision, "test": {k: v for k, v in (metrics.get("test") or {}).items()
                                                         if k != "per_relation"}}


def bench_demo(settings: Settings, budget: float) -> dict:
    """`kgp demo` as it is (target precision 0.9)."""
    started = time.perf_counter()
    report = run_demo(settings, time_budget=budget, quiet=True)
    truth = set(generate_catalog(seed=7).held_back)  # run_demo's default seed
    out = breakdown(RunDir.of(settings.runs_dir, report["run_id"]), truth)
    return {"name": "demo", "target_precision": report["target_precision"], "truth": "the catalog's held-back links",
            "seconds": round(time.perf_counter() - started), **out}


def bench_demo_catalog(settings: Settings, budget: float, target: float) -> dict:
    """The demo's catalog with a lower precision target: more edges, of more relationship types."""
    started = time.perf_counter()
    catalog = generate_catalog(seed=7)
    folder = settings.home / "demo-catalog"
    write_dataset(catalog, folder)
    graph_settings = settings.model_copy(update={"graph": "bench_explain_demo"})
    store = open_store(graph_settings)
    store.delete_graph()
    ingest_path(store, folder, batch_size=settings.write_batch_size)
    cfg = PipelineConfig(train=TrainConfig(time_budget_s=budget, seed=7), target_precision=target)
    result = run_pipeline(store, graph_settings, cfg)
    out = breakdown(RunDir(result.run_dir), set(catalog.held_back))
    store.delete_graph()
    return {"name": f"demo catalog, target {target}", "target_precision": target,
            "truth": "the catalog's held-back links", "seconds": round(time.perf_counter() - started), **out}


def bench_dataset(settings: Settings, budget: float, target: float) -> dict:
    started = time.perf_counter()
    folder = settings.home / "giftcards-without-test"
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("entities.tsv", "triples_train.tsv", "triples_valid.tsv", "relations.tsv"):
        if (DATASET / name).is_file():
            shutil.copy(DATASET / name, folder / name)
    truth = {tuple(line.split("\t")[:3]) for line in (DATASET / "triples_test.tsv").read_text().splitlines()
             if line.strip()}
    graph_settings = settings.model_copy(update={"graph": "bench_explain_giftcards"})
    store = open_store(graph_settings)
    store.delete_graph()
    ingest_path(store, folder, batch_size=settings.write_batch_size)
    cfg = PipelineConfig(train=TrainConfig(time_budget_s=budget), target_precision=target)
    result = run_pipeline(store, graph_settings, cfg)
    out = breakdown(RunDir(result.run_dir), truth)
    store.delete_graph()
    return {"name": f"{DATASET.name}, target {target}", "target_precision": target,
            "truth": "its test split, held out of the graph (a lower bound: the lists are incomplete)",
            "seconds": round(time.perf_counter() - started), **out}


def render(report: dict) -> str:
    lines = ["# Explanations: does the top evidence path end with the predicted relation?", "",
             f"Training budget {report['time_budget_s']:.0f} s per run; measured {report['date']}. "
             "`with path`: edges with a path of length 2-3 between head and tail in the asserted graph. "
             "`top path has relation`: the best-ranked path (by rule confidence mined on train) ends with an "
             "asserted edge of the predicted type into the tail, as a share of the edges with a path.", "",
             "| run | target precision | edges written | with path | top path has relation | mean rule confidence | "
             "similar nodes | text mentions | explain seconds |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["runs"]:
        x = r["explanations"]
        lines.append(f"| {r['name']} | {r['target_precision']} | {x['edges']} | "
                     f"{x['with_path']} ({(x['with_path_share'] or 0):.0%}) | "
                     f"{x['top_path_has_relation']} ({(x['top_path_has_relation_share'] or 0):.0%}) | "
                     f"{x['mean_top_confidence'] or 0:.2f} | {x['with_neighbours']} | {x['with_mention']} | "
                     f"{x.get('seconds', 0):.1f} |")
    for r in report["runs"]:
        lines += ["", f"## {r['name']} (run {r['run_id']}; truth: {r['truth']})", "",
                  "| relation | edges | with path | top path has relation |", "|---|---:|---:|---:|"]
        for rel, x in sorted(r["per_relation"].items()):
            lines.append(f"| {rel} | {x['edges']} | {x['with_path']} | {x['top_path_has_relation']} "
                         f"({(x['top_path_has_relation_share'] or 0):.0%}) |")
        lines += ["", "Precision of the written edges against the truth, by the kind of evidence:", "",
                  "| relation | evidence | edges | correct | precision |", "|---|---|---:|---:|---:|"]
        for rel, kinds in r["precision_by_evidence"].items():
            for kind, x in kinds.items():
                lines.append(f"| {rel} | {kind} | {x['edges']} | {x['correct']} | {(x['precision'] or 0):.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--time-budget", type=float, default=30.0, help="training seconds per run")
    parser.add_argument("--skip-dataset", action="store_true", help="only the demo catalog's runs")
    parser.add_argument("--low-target", type=float, default=0.6,
                        help="precision target of the second demo-catalog run (more edges, more types)")
    parser.add_argument("--dataset-target", type=float, default=0.3,
                        help="precision target on amazon-giftcards-2018 (a 30 s model reaches little more)")
    parser.add_argument("--home", type=Path, default=REPO / ".kgp-bench-explain")
    parser.add_argument("--port", type=int, default=6392)
    args = parser.parse_args()
    settings = Settings(KGP_STORE="falkordb", KGP_HOME=args.home, KGP_FALKORDB_PORT=args.port)
    server = embedded_server(settings)
    server.start()
    try:
        runs = [bench_demo(settings, args.time_budget),
                bench_demo_catalog(settings, args.time_budget, args.low_target)]
        if not args.skip_dataset and (DATASET / "triples_test.tsv").is_file():
            runs.append(bench_dataset(settings, args.time_budget, args.dataset_target))
    finally:
        server.stop()
    report = {"time_budget_s": args.time_budget, "date": time.strftime("%Y-%m-%d"), "runs": runs}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "explain.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "explain.md").write_text(render(report))
    sys.stdout.write(render(report))


if __name__ == "__main__":
    main()
