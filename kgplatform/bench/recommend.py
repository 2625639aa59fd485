"""`kgp bench recommend`: ingest a recommendation dataset into the store, export it, train ours with select-on-valid,
rank test over all items; the α sweep and the library baselines on the same split, in the same run."""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch

from kgplatform.bench.linkpred import graph_name_for
from kgplatform.bench.recbaselines import run_baseline
from kgplatform.graph.export_behaviour import export_recdata
from kgplatform.graph.store import open_store
from kgplatform.ingest.load import ingest_rec_layout
from kgplatform.progress import ProgressFn, StageClock
from kgplatform.recommend.config import RecConfig, rec_model_name
from kgplatform.recommend.data import RecData
from kgplatform.recommend.evaluate import evaluate
from kgplatform.recommend.train import score_function, train_recommender
from kgplatform.settings import Settings
from kgplatform.text.embeddings import encode_texts

DEFAULT_BASELINES = ("popularity", "als", "recbole-bpr", "recbole-lightgcn", "recbole-kgat", "recbole-kgin")
DEFAULT_ALPHAS = (0.0, 0.1, 1.0)
# The targets: (dataset, metric, what it is compared with).
TARGETS = {
    "lastfm-kgcn": [("ctr.auc", 0.796, "published KGCN-concat AUC"), ("ctr.f1", 0.721, "published KGCN-concat F1"),
                    ("test.recall@20", "baselines", "every baseline")],
    "ml100k-fb": [("test.recall@20", "baselines", "every baseline"), ("test.ndcg@20", "baselines", "every baseline")],
    "amazon-giftcards-2018-rec": [("test.recall@20", "baselines", "every baseline"),
                                  ("test.cold_recall@20", "popularity", "popularity's cold-item slice")],
}


def _seconds(start: float) -> float:
    return round(time.perf_counter() - start, 2)


def train_ours(data: RecData, cfg: RecConfig, text_x: torch.Tensor | None) -> dict:
    started = time.perf_counter()
    result = train_recommender(data, cfg, text_x=text_x)
    figures = evaluate(score_function(result.model), data)
    return {"test": figures["test"], "ctr": figures["ctr"], "valid": result.best_valid,
            "best_epoch": result.best_epoch, "epochs": len(result.history), "stopped_reason": result.stopped_reason,
            "train_s": _seconds(started), "model": rec_model_name(cfg), "config": cfg.model_dump(),
            "history": result.history}


def run_recommend_bench(settings: Settings, data_dir: Path, *, time_budget: float = 600.0,
                        baselines: tuple[str, ...] = DEFAULT_BASELINES, alphas: tuple[float, ...] = DEFAULT_ALPHAS,
                        train_cfg: RecConfig | None = None, progress: ProgressFn | None = None,
                        log=print) -> dict:
    clock = StageClock()
    store = open_store(settings, graph=graph_name_for(data_dir))
    try:
        ingest = ingest_rec_layout(store, data_dir, batch_size=settings.write_batch_size, progress=progress)
        clock.lap("ingest")
        # items: what has behaviour (= the dataset's items.tsv); the store may hold more products than the benchmark
        data = export_recdata(store, item_label=None, page_size=settings.page_size, progress=progress)
        clock.lap("export")
    finally:
        store.close()
    cfg = (train_cfg or RecConfig()).model_copy(update={"time_budget_s": time_budget})
    text_x = encode_texts(data.entity_text, settings.embed_model, settings.cache_dir,
                          batch_size=settings.embed_batch_size, progress=progress) if cfg.use_text else None
    clock.lap("featurize")
    log(f"ours: {rec_model_name(cfg)}, budget {time_budget:.0f} s")
    ours = train_ours(data, cfg, text_x)
    clock.lap("train ours")
    sweep = [{"alpha": cfg.alpha, **_sweep_row(ours)}]
    for alpha in alphas:
        if math.isclose(alpha, cfg.alpha):
            continue
        log(f"alpha sweep: {alpha}")
        sweep.append({"alpha": alpha, **_sweep_row(train_ours(data, cfg.model_copy(update={"alpha": alpha}),
                                                              text_x))})
    sweep.sort(key=lambda r: r["alpha"])
    clock.lap("alpha sweep")
    baseline_reports = {}
    for name in baselines:
        log(f"baseline: {name}")
        baseline_reports[name] = run_baseline(name, data, time_budget_s=time_budget, seed=cfg.seed,
                                             threads=cfg.threads or 2)
        clock.lap(f"baseline {name}")
    report = {"dataset": Path(data_dir).name, "test": ours["test"], "ctr": ours["ctr"], "ours": ours,
              "alpha_sweep": sweep, "baselines": baseline_reports, "timings_s": clock.timings,
              "config": cfg.model_dump(), "time_budget_s": time_budget,
              "data": {"users": data.num_users, "items": data.num_items, "entities": data.num_entities,
                       "kg_triples": len(data.kg), "train": len(data.train_pairs()),
                       "valid": len(data.valid_pairs()), "test": len(data.test_pairs()), "ctr_rows": len(data.ctr),
                       "ingest": ingest}}
    report["targets"] = check_targets(report)
    return report


def _sweep_row(rep: dict) -> dict:
    row = {"valid_recall@20": (rep["valid"] or {}).get("recall@20"), "train_s": rep["train_s"],
           "best_epoch": rep["best_epoch"]}
    row.update({k: rep["test"].get(k) for k in ("recall@20", "ndcg@20", "cold_recall@20")})
    if rep["ctr"]:
        row["auc"] = rep["ctr"]["auc"]
    return row


def _lookup(rep: dict, path: str):
    section, key = path.split(".", 1)
    return ((rep.get(section) or {}) or {}).get(key)


def check_targets(report: dict) -> list[dict]:
    """Each target of the issue for this dataset: met or not, with the figures it compared."""
    out = []
    for path, target, what in TARGETS.get(report["dataset"], []):
        ours = _lookup(report, path)
        if target == "baselines":
            theirs = {n: _lookup(b, path) for n, b in report["baselines"].items()}
        elif target == "popularity":
            theirs = {"popularity": _lookup(report["baselines"].get("popularity", {}), path)}
        else:
            theirs = {"published": target}
        theirs = {k: v for k, v in theirs.items() if v is not None and not math.isnan(v)}
        best = max(theirs.values()) if theirs else None
        if ours is not None and math.isnan(ours):
            ours = None
        met = None if ours is None and best is None else (ours is not None and best is not None and ours >= best)
        out.append({"metric": path, "against": what, "ours": ours, "best_other": best,
                    "best_other_name": max(theirs, key=theirs.get) if theirs else None, "met": met,
                    "gap": None if met or ours is None or best is None else round(best - ours, 4)})
    return out


METRIC_COLUMNS = ("recall@20", "ndcg@20", "recall@10", "ndcg@10", "hit@20", "cold_recall@20", "coverage@20")


def _fmt(value) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def render_markdown(reports: list[dict]) -> str:
    lines = ["# Recommendation benchmark", "",
             "All-ranking over every item not in the user's train (+ valid for test) interactions; NDCG with the "
             "ideal DCG over all of the user's test items (KGIN's definition); cold = test items with at most one "
             "train interaction; CTR: one global AUC, F1 at the threshold chosen on valid. Produced by "
             "`kgp bench recommend`; the JSON beside this file holds every figure.", ""]
    for rep in reports:
        lines += [f"## {rep['dataset']}", "",
                  f"{rep['data']['users']:,} users, {rep['data']['items']:,} items, {rep['data']['train']:,} / "
                  f"{rep['data']['valid']:,} / {rep['data']['test']:,} interactions, {rep['data']['kg_triples']:,} "
                  f"KG triples; at most {rep['time_budget_s']:.0f} s of training per model, 2 CPU cores.", "",
                  "| model | " + " | ".join(METRIC_COLUMNS) + " | AUC | F1 | train s |",
                  "|---" * (len(METRIC_COLUMNS) + 4) + "|"]
        rows = [(f"**ours** ({rep['ours']['model']})", rep["ours"])] + list(rep["baselines"].items())
        for name, r in rows:
            ctr = r.get("ctr") or {}
            lines.append(f"| {name} | " + " | ".join(_fmt(r["test"].get(m)) for m in METRIC_COLUMNS)
                         + f" | {_fmt(ctr.get('auc'))} | {_fmt(ctr.get('f1'))} | {r.get('train_s', 0):.0f} |")
        lines += ["", "α sweep (L = L_BPR + α·L_KG):", "", "| α | valid recall@20 | test recall@20 | test ndcg@20 | "
                  "cold recall@20 | AUC | train s |", "|---|---|---|---|---|---|---|"]
        for row in rep["alpha_sweep"]:
            lines.append(f"| {row['alpha']} | {_fmt(row['valid_recall@20'])} | {_fmt(row['recall@20'])} | "
                         f"{_fmt(row['ndcg@20'])} | {_fmt(row['cold_recall@20'])} | {_fmt(row.get('auc'))} | "
                         f"{row['train_s']:.0f} |")
        lines += ["", "Targets:", "", "| metric | against | ours | best other | verdict |", "|---|---|---|---|---|"]
        for t in rep["targets"]:
            verdict = ("n/a: no figure on this split (e.g. no cold test items)" if t["met"] is None
                       else "met" if t["met"] else f"**not met** (gap {t['gap']})")
            lines.append(f"| {t['metric']} | {t['against']} | {_fmt(t['ours'])} | {_fmt(t['best_other'])} "
                         f"({t['best_other_name']}) | {verdict} |")
        lines.append("")
    return "\n".join(lines)
