"""`kgp bench linkpred`: the honest benchmark. Ingest -> export -> train on train, select on valid -> test."""

from __future__ import annotations

import os
import re
from pathlib import Path

from kgplatform.bench.baseline import run_baseline
from kgplatform.bench.classify import TARGETS, calibration_test_report, classification_report
from kgplatform.bench.targets import render_targets
from kgplatform.graph.export import export_snapshot
from kgplatform.graph.schema import relation_registry
from kgplatform.graph.store import open_store
from kgplatform.ingest.load import ingest_path
from kgplatform.learn.budget import budget_check
from kgplatform.learn.config import TrainConfig
from kgplatform.learn.evaluate import rank_metrics
from kgplatform.learn.index import train_edges
from kgplatform.learn.newheads import training_view
from kgplatform.pipeline.arrivals import hold_out_arrivals
from kgplatform.pipeline.config import PipelineConfig
from kgplatform.pipeline.stages import calibrate, featurize, train_and_evaluate
from kgplatform.progress import ProgressFn, StageClock
from kgplatform.settings import Settings
from kgplatform.snapshot import SPLIT_TEST

# Published filtered link-prediction numbers (MRR, Hits@10), as listed in shared/datasets/README.md.
PUBLISHED = {
    "wn18rr": {"TransE": (0.22, 0.53), "DistMult": (0.45, 0.54), "ComplEx": (0.45, 0.54), "RotatE": (0.476, 0.571),
               "CompGCN": (0.479, 0.546), "NBFNet": (0.551, 0.666), "SimKGC": (0.666, 0.800)},
    "codex-s": {"TransE": (0.354, 0.634), "RESCAL": (0.404, 0.623), "ConvE": (0.444, 0.635),
                "ComplEx": (0.465, 0.646)},
}


# Our model with its inputs fixed to one of these (no input race), trained on the same snapshot under the whole
# budget, where ours raced its variants on half of it (learn/choose.py). An ablation whose settings are what ours
# ran is reported as ours, untrained.
ABLATIONS = {
    "text only": {"use_text": True, "learned_embeddings": False, "encoder": "none"},  # text + decoder, no graph
    "graph only": {"use_text": False, "learned_embeddings": True},  # learned embeddings (+ our encoder), no text
    "text+graph": {"use_text": True, "learned_embeddings": True},
}


def graph_name_for(data: Path) -> str:
    return "bench_" + re.sub(r"[^A-Za-z0-9_]", "_", Path(data).resolve().name)


def strip_per_relation(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k != "per_relation"}


def ablation_report(settings: dict, result, test: dict, unconstrained: dict) -> dict:
    return {"test": test, "test_unconstrained": strip_per_relation(unconstrained), "config": settings,
            "valid": {"best_mrr": result.best_valid_mrr, "best_epoch": result.best_epoch},
            "stopped_reason": result.stopped_reason}


def validation_text(valid: dict) -> str:
    members = valid.get("members")
    if not members:
        return f"best valid MRR {valid['best_mrr']:.3f} at epoch {valid['best_epoch']}"
    each = ", ".join(f"{m['best_valid_mrr']:.3f} at epoch {m['best_epoch']} (seed {m['seed']}, {m['seconds']:.0f} s)"
                     for m in members)
    return f"valid MRR {valid['best_mrr']:.3f} of the merged ensemble of {len(members)} models; each alone: {each}"


def write_back_decisions(model, snapshot, data: Path, cfg: TrainConfig,
                         relation_types: dict[str, str] | None = None) -> tuple[dict | None, dict]:
    """(triple classification on the dataset's verified negatives, or None without negatives files;
    the validation-fitted calibration and 0.9-precision thresholds applied to test candidates). See
    bench/classify.py; relation_types: relation id -> type as ingest named them."""
    import torch

    pcfg = PipelineConfig(train=cfg)
    model.eval()
    with torch.no_grad():
        z = model.encode(*train_edges(snapshot))
    classification = classification_report(model, z, snapshot, data, relation_types)
    fitted = calibrate(model, snapshot, pcfg)  # (calibration, report, ...)
    calibration_test = calibration_test_report(model, z, snapshot, fitted[0], k=pcfg.top_k,
                                               type_constrained=cfg.type_constrained)
    calibration_test["valid"] = fitted[1]["summary"]
    calibration_test["target_precision"] = pcfg.target_precision
    calibration_test["precision_confidence"] = getattr(pcfg, "precision_confidence", None)
    calibration_test["threshold_scope"] = getattr(pcfg, "threshold_scope", None)
    return classification, calibration_test


def run_linkpred(settings: Settings, data: Path, *, time_budget: float = 300.0, use_text: bool = True,
                 train_cfg: TrainConfig | None = None, baselines: list[str] = (),
                 ablations: list[str] = (), progress: ProgressFn | None = None, log=None) -> dict:
    """Ours, then each named baseline (bench_baseline.BASELINES) on the same snapshot and budget."""
    cfg = train_cfg or TrainConfig(time_budget_s=time_budget, use_text=use_text)
    unknown = [a for a in ablations if a not in ABLATIONS]
    if unknown:
        raise ValueError(f"unknown ablation(s) {', '.join(map(repr, unknown))}; choose from {', '.join(ABLATIONS)}")
    store = open_store(settings, graph=graph_name_for(data))
    load_at_start = os.getloadavg()[1]  # 5-minute average: other jobs sharing the cores slow every model alike
    clock = StageClock()
    timings, lap = clock.timings, clock.lap

    ingest = ingest_path(store, data, batch_size=settings.write_batch_size, progress=progress)
    lap("ingest")
    snapshot = export_snapshot(store, page_size=settings.page_size, progress=progress)
    lap("export")
    feature_stats: dict = {}
    text_x = featurize(snapshot, settings, cfg, progress, feature_stats)
    lap("featurize")
    # as a pipeline run trains: without the heads held out to calibrate new products on (learn/newheads.py)
    view = training_view(snapshot, hold_out_arrivals(snapshot, PipelineConfig(train=cfg)))
    result, test = train_and_evaluate(view, text_x, cfg, progress)
    lap("train+evaluate")
    def all_entities(model) -> dict:
        return rank_metrics(model, view, SPLIT_TEST, type_constrained=False, batch_size=cfg.eval_batch_size)

    unconstrained = all_entities(result.model)
    lap("evaluate_unconstrained")
    registry = relation_registry(store)  # the negatives' relation ids are named as ingest named them
    ran = result.model.cfg  # the inputs the race chose, when it ran
    classification, calibration_test = write_back_decisions(result.model, snapshot, data, ran,
                                                            {v["source_id"]: t for t, v in registry.items()})
    lap("classify+calibrate")
    ablation_reports = {}
    for name in ablations:
        variant = TrainConfig(**(cfg.model_dump() | ABLATIONS[name] | {"choose_inputs": False}))
        if variant == ran.model_copy(update={"choose_inputs": False}):
            ablation_reports[name] = ablation_report(ABLATIONS[name], result, test, unconstrained) | \
                {"same_as_ours": True}
            continue
        if variant.use_text and text_x is None:  # ours ran without text, so nothing was embedded yet
            text_x = featurize(snapshot, settings, variant, progress, feature_stats)
        variant_result, variant_test = train_and_evaluate(view, text_x, variant, progress)
        ablation_reports[name] = ablation_report(ABLATIONS[name], variant_result, variant_test,
                                                 all_entities(variant_result.model))
        lap(f"ablation {name}")
    baseline_reports = {}
    for name in baselines:
        b = run_baseline(name, snapshot, time_budget_s=time_budget, seed=cfg.seed, eval_every=cfg.eval_every,
                         patience=cfg.patience, eval_batch_size=cfg.eval_batch_size,
                         valid_max_triples=cfg.valid_max_triples, log=log)
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
        # each relationship type's original relation id as the dataset writes it (a Freebase path, an IRI)
        "relation_sources": {t: v["source_id"] for t, v in sorted(relation_registry(store).items())
                             if t in snapshot.rel_names},
        "test": test,
        "test_unconstrained": strip_per_relation(unconstrained) | {"per_relation": unconstrained["per_relation"]},
        "valid": {"best_mrr": result.best_valid_mrr, "best_epoch": result.best_epoch,
                  **({"members": result.members} if result.members else {})},
        "input_choice": result.choice,
        "baselines": baseline_reports,
        "ablations": ablation_reports,
        **({"classification": classification} if classification is not None else {}),
        "calibration_test": calibration_test,
        "stopped_reason": result.stopped_reason,
        "budget": budget_check(result.history, result.stopped_reason, cfg.time_budget_s),
        "time_budget_s": time_budget, "timings_s": timings, "features": feature_stats,
        "machine": {"cpus": os.cpu_count(), "load_avg_5min": {"start": load_at_start, "end": os.getloadavg()[1]}},
        "config": cfg.model_dump(), "published": {k: {"mrr": v[0], "hits@10": v[1]}
                                                  for k, v in PUBLISHED.get(dataset, {}).items()},
        "protocol": "filtered, both directions, realistic ranks for ties; 'test' ranks among entities of the "
                    "relation's range types seen in train, 'test_unconstrained' among all entities (as published)",
    }


def target_marker(value: float | None, target: float, higher_is_better: bool = True) -> str:
    """'0.834 (met)' / '0.031 (not met, gap 0.012)' / 'n/a'."""
    if value is None:
        return "n/a"
    met = value >= target if higher_is_better else value <= target
    return f"{value:.3f} ({'met' if met else f'not met, gap {abs(value - target):.3f}'})"


def write_back_table(reports: list[dict]) -> list[str]:
    """Second table: whether the write-back decision holds on test (bench_classify): triple classification on
    verified negatives, calibration error of the written probabilities, precision of the edges selected."""
    lines = ["## Write-back decision: held-out test", "",
             "Triple classification: test triples vs the dataset's verified false triples (CoDEx negatives), one "
             "threshold per relation chosen on validation triples + negatives. ECE and selection: the top-k candidate "
             "tails of each test (head, relation), train and valid edges blocked, positive if a test edge, with the "
             "probabilities and 0.9-precision thresholds the pipeline fits on validation "
             "(kgplatform/bench/classify.py)."
             "", "",
             f"| dataset | triple classification accuracy (target ≥ {TARGETS['accuracy']}) | published | "
             f"test ECE (target ≤ {TARGETS['ece']}) | edges selected at validation precision 0.9 | "
             f"their test precision (target ≥ {TARGETS['precision']}) |",
             "|---|---|---|---|---|---|"]
    for rep in reports:
        cls, cal = rep.get("classification"), rep.get("calibration_test")
        published = ", ".join(f"{k} {v:.3f}" for k, v in (cls or {}).get("published", {}).items())
        if cal is None:
            lines.append(f"| {rep['dataset']} | {target_marker(None, 0)} | {published} | n/a | n/a | n/a |")
            continue
        lines.append(f"| {rep['dataset']} | {target_marker(cls and cls['accuracy'], TARGETS['accuracy'])} | "
                     f"{published} | {target_marker(cal['ece'], TARGETS['ece'], higher_is_better=False)} | "
                     f"{cal['selected']} of {cal['candidates']} candidates | "
                     f"{target_marker(cal['selected_precision'], TARGETS['precision'])} |")
    return lines + [""]


def settings_text(config: dict) -> str:
    """The run's TrainConfig fields that differ from the defaults (the budget is in the table already)."""
    defaults = TrainConfig().model_dump()
    changed = {k: v for k, v in config.items() if k in defaults and v != defaults[k] and k != "time_budget_s"}
    return ", ".join(f"{k}={v}" for k, v in changed.items()) or "none"


def render_markdown(reports: list[dict]) -> str:
    """One table: our filtered test metrics beside the published reference numbers, then per-relation rows."""
    preface = ["# Link prediction: filtered test metrics", "",
               "Regenerate with `bash bench/run_linkpred.sh [datasets...]` (budgets per dataset in the script). Each "
               "dataset goes through the embedded FalkorDB: ingest, export, featurize, train on train, early-stop on "
               "valid, rank test; the PyKEEN baselines and our ablations train on the same snapshot under the same "
               "budget in the same run. Protocol: filtered, head and tail prediction averaged, ties at the mean rank. "
               "'type-constrained' ranks among entities of the relation's range types seen in train; 'all entities' "
               "is the protocol of the published numbers (from ../shared/datasets/README.md). Machine: 2 CPU cores, "
               "no GPU; the load average during each run is under 'Stages' (other jobs on the same cores slow every "
               "model of that run alike, but lower all of its numbers).", "", *render_targets(reports),
               "## All models", ""]
    lines = ["| dataset | setting | MRR | Hits@1 | Hits@3 | Hits@10 | train budget (s) | wall-clock (s) |",
             "|---|---|---|---|---|---|---|---|"]
    for rep in reports:
        total = sum(v for k, v in rep["timings_s"].items() if not k.startswith(("baseline", "ablation")))
        for label, key in (("ours, type-constrained", "test"), ("ours, all entities", "test_unconstrained")):
            m = rep[key]
            lines.append(f"| {rep['dataset']} | {label} | {m['mrr']:.3f} | {m['hits@1']:.3f} | {m['hits@3']:.3f} | "
                         f"{m['hits@10']:.3f} | {rep['time_budget_s']:.0f} | {total:.0f} |")
        for name, a in rep.get("ablations", {}).items():
            label = f"ours, {name} (ablation{': these are our settings' if a.get('same_as_ours') else ''})"
            for protocol, key in (("type-constrained", "test"), ("all entities", "test_unconstrained")):
                if key not in a:  # reports written before ablations were also ranked among all entities
                    continue
                m = a[key]
                lines.append(f"| {rep['dataset']} | {label}, {protocol} | {m['mrr']:.3f} | {m['hits@1']:.3f} | "
                             f"{m['hits@3']:.3f} | {m['hits@10']:.3f} | {rep['time_budget_s']:.0f} | "
                             f"{rep['timings_s'].get(f'ablation {name}', 0):.0f} |")
        for name, b in rep.get("baselines", {}).items():
            for label, key in (("type-constrained", "test"), ("all entities", "test_unconstrained")):
                m = b[key]
                lines.append(f"| {rep['dataset']} | {name} (same run, same budget), {label} | {m['mrr']:.3f} | "
                             f"{m['hits@1']:.3f} | {m['hits@3']:.3f} | {m['hits@10']:.3f} | "
                             f"{rep['time_budget_s']:.0f} | {rep['timings_s'].get(f'baseline {name}', 0):.0f} |")
        for name, ref in rep["published"].items():
            lines.append(f"| {rep['dataset']} | published {name} | {ref['mrr']:.3f} | | | {ref['hits@10']:.3f} | | |")
    out = ["\n".join(preface + lines), "", *write_back_table(reports)]
    for rep in reports:
        others = [(f"{n} MRR", b["test"]) for n, b in rep.get("ablations", {}).items()]
        others += [(f"{n} MRR", b["test"]) for n, b in rep.get("baselines", {}).items()]
        out += [f"### {rep['dataset']}: per relation (type-constrained, filtered, test)", "",
                "| relation | queries | MRR | Hits@1 | Hits@10 |" + "".join(f" {n} |" for n, _ in others),
                "|---|---|---|---|---|" + "---|" * len(others)]
        sources = rep.get("relation_sources", {})
        for rel, m in sorted(rep["test"]["per_relation"].items(), key=lambda kv: -kv[1]["count"]):
            theirs = "".join(f" {t['per_relation'].get(rel, {}).get('mrr', 0):.3f} |" for _, t in others)
            name = rel if sources.get(rel, rel) == rel else f"{rel} (`{sources[rel]}`)"  # the dataset's own id
            out.append(f"| {name} | {m['count']} | {m['mrr']:.3f} | {m['hits@1']:.3f} | {m['hits@10']:.3f} |{theirs}")
        stages = ", ".join(f"{k} {v:.0f}s" for k, v in rep["timings_s"].items())
        load = rep.get("machine", {}).get("load_avg_5min")
        load_text = f" Load average (5 min) {load['start']:.1f} at start, {load['end']:.1f} at end." if load else ""
        out += ["", f"Stages: {stages}. Stopped: {rep['stopped_reason']}; {validation_text(rep['valid'])}.{load_text} "
                f"Our model's settings, where not TrainConfig's defaults: {settings_text(rep.get('config', {}))}.", ""]
    return "\n".join(out)
