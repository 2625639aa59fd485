"""`kgp bench linkpred`: the honest benchmark. Ingest -> export -> train on train, select on valid -> test."""

from __future__ import annotations

import re
from pathlib import Path

from .export import export_snapshot
from .ingest import ingest_path
from .learn.config import TrainConfig
from .pipeline import featurize, train_and_evaluate
from .progress import ProgressFn, StageClock
from .settings import Settings
from .snapshot import SPLIT_TEST
from .store import open_store

# Published filtered link-prediction numbers (MRR, Hits@10), as listed in shared/datasets/README.md.
PUBLISHED = {
    "wn18rr": {"TransE": (0.22, 0.53), "DistMult": (0.45, 0.54), "ComplEx": (0.45, 0.54), "RotatE": (0.476, 0.571),
               "CompGCN": (0.479, 0.546), "NBFNet": (0.551, 0.666), "SimKGC": (0.666, 0.800)},
    "codex-s": {"TransE": (0.354, 0.634), "RESCAL": (0.404, 0.623), "ConvE": (0.444, 0.635),
                "ComplEx": (0.465, 0.646)},
}


def graph_name_for(data: Path) -> str:
    return "bench_" + re.sub(r"[^A-Za-z0-9_]", "_", Path(data).resolve().name)


def strip_per_relation(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k != "per_relation"}


def run_linkpred(settings: Settings, data: Path, *, time_budget: float = 300.0, use_text: bool = True,
                 train_cfg: TrainConfig | None = None, baselines: list[str] = (),
                 progress: ProgressFn | None = None, log=None) -> dict:
    """Ours, then each named baseline (bench_baseline.BASELINES) on the same snapshot and budget."""
    from .learn.evaluate import rank_metrics

    cfg = train_cfg or TrainConfig(time_budget_s=time_budget, use_text=use_text)
    store = open_store(settings, graph=graph_name_for(data))
    clock = StageClock()
    timings, lap = clock.timings, clock.lap

    ingest = ingest_path(store, data, batch_size=settings.write_batch_size, progress=progress)
    lap("ingest")
    snapshot = export_snapshot(store, page_size=settings.page_size, progress=progress)
    lap("export")
    feature_stats: dict = {}
    text_x = featurize(snapshot, settings, cfg, progress, feature_stats)
    lap("featurize")
    result, test = train_and_evaluate(snapshot, text_x, cfg, progress)
    lap("train+evaluate")
    unconstrained = rank_metrics(result.model, snapshot, SPLIT_TEST, type_constrained=False,
                                 batch_size=cfg.eval_batch_size)
    lap("evaluate_unconstrained")
    baseline_reports = {}
    for name in baselines:
        from .bench_baseline import run_baseline

        b = run_baseline(name, snapshot, time_budget_s=time_budget, seed=cfg.seed, eval_every=cfg.eval_every,
                         patience=cfg.patience, eval_batch_size=cfg.eval_batch_size, log=log)
        baseline_reports[name] = {
            "test": b.test, "test_unconstrained": strip_per_relation(b.test_unconstrained),
            "valid": {"best_mrr": b.best_valid_mrr, "best_epoch": b.best_epoch}, "epochs": b.epochs,
            "train_seconds": round(b.train_seconds, 1), "stopped_reason": b.stopped_reason, "config": b.config}
        lap(f"baseline {name}")
    dataset = Path(data).resolve().name
    return {
        "dataset": dataset, "backend": store.backend, "graph": store.graph_name,
        "counts": {"entities": snapshot.num_nodes, "relations": snapshot.num_relations,
                   "edges": int(snapshot.edge_index.shape[1]), "ingested_new": ingest["relationships_created"]},
        "test": test,
        "test_unconstrained": strip_per_relation(unconstrained) | {"per_relation": unconstrained["per_relation"]},
        "valid": {"best_mrr": result.best_valid_mrr, "best_epoch": result.best_epoch},
        "baselines": baseline_reports,
        "stopped_reason": result.stopped_reason,
        "time_budget_s": time_budget, "timings_s": timings, "features": feature_stats,
        "config": cfg.model_dump(), "published": {k: {"mrr": v[0], "hits@10": v[1]}
                                                  for k, v in PUBLISHED.get(dataset, {}).items()},
        "protocol": "filtered, both directions, realistic ranks for ties; 'test' ranks among entities of the "
                    "relation's range types seen in train, 'test_unconstrained' among all entities (as published)",
    }


def render_markdown(reports: list[dict]) -> str:
    """One table: our filtered test metrics beside the published reference numbers, then per-relation rows."""
    preface = ["# Link prediction: filtered test metrics", "",
               "Regenerate with `bash bench/run_linkpred.sh 300` (each dataset goes through the embedded FalkorDB: "
               "ingest, export, featurize, train on train, early-stop on valid, rank test). Protocol: filtered, "
               "head and tail prediction averaged, ties at the mean rank. 'type-constrained' ranks among entities of "
               "the relation's range types seen in train; 'all entities' is the protocol of the published numbers "
               "(from ../shared/datasets/README.md). Machine: 2 CPU cores, no GPU.", ""]
    lines = ["| dataset | setting | MRR | Hits@1 | Hits@3 | Hits@10 | train budget (s) | wall-clock (s) |",
             "|---|---|---|---|---|---|---|---|"]
    for rep in reports:
        total = sum(v for k, v in rep["timings_s"].items() if not k.startswith("baseline"))
        for label, key in (("ours, type-constrained", "test"), ("ours, all entities", "test_unconstrained")):
            m = rep[key]
            lines.append(f"| {rep['dataset']} | {label} | {m['mrr']:.3f} | {m['hits@1']:.3f} | {m['hits@3']:.3f} | "
                         f"{m['hits@10']:.3f} | {rep['time_budget_s']:.0f} | {total:.0f} |")
        for name, b in rep.get("baselines", {}).items():
            for label, key in (("type-constrained", "test"), ("all entities", "test_unconstrained")):
                m = b[key]
                lines.append(f"| {rep['dataset']} | {name} (same run, same budget), {label} | {m['mrr']:.3f} | "
                             f"{m['hits@1']:.3f} | {m['hits@3']:.3f} | {m['hits@10']:.3f} | "
                             f"{rep['time_budget_s']:.0f} | {rep['timings_s'].get(f'baseline {name}', 0):.0f} |")
        for name, ref in rep["published"].items():
            lines.append(f"| {rep['dataset']} | published {name} | {ref['mrr']:.3f} | | | {ref['hits@10']:.3f} | | |")
    out = ["\n".join(preface + lines), ""]
    for rep in reports:
        names = list(rep.get("baselines", {}))
        out += [f"### {rep['dataset']}: per relation (type-constrained, filtered, test)", "",
                "| relation | queries | MRR | Hits@1 | Hits@10 |" + "".join(f" {n} MRR |" for n in names),
                "|---|---|---|---|---|" + "---|" * len(names)]
        for rel, m in sorted(rep["test"]["per_relation"].items(), key=lambda kv: -kv[1]["count"]):
            theirs = "".join(f" {rep['baselines'][n]['test']['per_relation'].get(rel, {}).get('mrr', 0):.3f} |"
                             for n in names)
            out.append(f"| {rel} | {m['count']} | {m['mrr']:.3f} | {m['hits@1']:.3f} | {m['hits@10']:.3f} |{theirs}")
        stages = ", ".join(f"{k} {v:.0f}s" for k, v in rep["timings_s"].items())
        out += ["", f"Stages: {stages}. Stopped: {rep['stopped_reason']}; best valid MRR "
                f"{rep['valid']['best_mrr']:.3f} at epoch {rep['valid']['best_epoch']}.", ""]
    return "\n".join(out)
