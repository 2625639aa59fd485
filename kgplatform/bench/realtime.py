"""`kgp bench realtime`: how long until new products have their predicted links in the store, and how good they are.

Protocol (one dataset, one run; bench/results/realtime.json):

1. Hold out ``held_out`` products (seeded) with every relationship touching them; ingest the rest through the real
   store and train one full run on it (``time_budget`` seconds): the base model, trained without them.
2. A trial inserts n of them (n = 1, 10, 100) as a catalog feed would: text plus one known edge each (their
   IN_CATEGORY edge when they have one, else ALSO_BOUGHT, ALSO_VIEWED, HAS_BRAND: the brand stays to be predicted
   when possible). The clock starts before the insert and stops when the store shows the watermark past the
   products' stamps (it only moves after their edges are written): insert + change detection + k-hop read + text
   encoding + scoring + write-back.
   - direct: `kgp watch`'s path, an in-process tick on a warm model right after the insert;
   - queue: `workers.tasks.score_new` sent to a real Celery worker (warm; the embedded redis-server as broker)
     right after the insert, as an ingest service would; the store is polled every 20 ms.
   Their texts are dropped from the embedding cache before each trial (so they are encoded as new), and the
   products with their edges are deleted after it (so the next trial inserts them as new again).
3. Quality, on the first 100-product direct trial, against the held-back true edges of those products (their
   edges other than the revealed one, to nodes of the base graph): precision and recall of the written edges,
   per relation; and the filtered, type-constrained rank of each held-back tail among all candidates as the
   tick scores them (MRR, Hits@10), which shows the ranking even where no edge clears the 0.9-precision bar.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from kgplatform.bench.linkpred import graph_name_for
from kgplatform.bench.worker_process import WorkerProcess
from kgplatform.graph.store import execute, open_store
from kgplatform.incremental.stages import extend, new_node_texts
from kgplatform.incremental.steps import WATERMARK, BaseCache, latest_base_row, read_neighbourhood, score_new
from kgplatform.ingest.load import load_graph
from kgplatform.ingest.records import ParsedGraph, TripleRow
from kgplatform.ingest.tsv import parse_dataset_dir
from kgplatform.learn.config import TrainConfig
from kgplatform.learn.index import relation_ranges
from kgplatform.pipeline.config import PipelineConfig
from kgplatform.pipeline.steps import run_pipeline
from kgplatform.progress import ProgressFn
from kgplatform.settings import Settings
from kgplatform.text.embeddings import EmbeddingCache, encode_texts, model_fingerprint, text_key
from kgplatform.textnorm import node_text
from workers.jobs import celery_app

SIZES = {1: 20, 10: 10, 100: 5}  # products per trial -> trials
REVEAL_ORDER = ("IN_CATEGORY", "ALSO_BOUGHT", "ALSO_VIEWED", "HAS_BRAND")


def split_new_products(graph: ParsedGraph, count: int, seed: int = 0) -> tuple[ParsedGraph, dict]:
    """(the base graph, {product id: (entity, revealed triple, held-back triples)}) for ``count`` products with at
    least two outgoing relationships."""
    out_edges = defaultdict(list)
    for t in graph.triples:
        out_edges[t.head].append(t)
    products = sorted(e.id for e in graph.entities if e.label == "Product" and len(out_edges[e.id]) >= 2)
    chosen = set(random.Random(seed).sample(products, min(count, len(products))))
    by_id = {e.id: e for e in graph.entities}
    held = {}
    for pid in sorted(chosen):
        edges = [t for t in out_edges[pid] if t.tail not in chosen]
        if not edges:
            continue
        rank = {r: i for i, r in enumerate(REVEAL_ORDER)}
        revealed = min(edges, key=lambda t: (rank.get(t.rel_type, len(rank)), t.tail))
        held[pid] = (by_id[pid], TripleRow(revealed.head, revealed.rel_type, revealed.tail, None),
                     [t for t in edges if t is not revealed])
    base = replace(graph, entities=[e for e in graph.entities if e.id not in chosen],
                   triples=[t for t in graph.triples if t.head not in chosen and t.tail not in chosen])
    return base, held


def percentiles(values: list[float]) -> dict:
    return {"p50_s": round(float(np.percentile(values, 50)), 4), "p95_s": round(float(np.percentile(values, 95)), 4),
            "max_s": round(max(values), 4), "trials": len(values)}


class Trials:
    """Insert products, wait until their links are visible, delete them again; one instance per dataset run."""

    def __init__(self, store, settings: Settings, held: dict, graph: ParsedGraph):
        """graph: the base graph, whose names (and their sources) the inserted products' rows share."""
        self.store, self.settings, self.held, self.graph = store, settings, held, graph
        self.ids = sorted(held)
        self.cursor = 0
        self.cache = EmbeddingCache(settings.cache_dir, model_fingerprint(settings.embed_model))

    def next_products(self, n: int) -> list[str]:
        picked = [self.ids[(self.cursor + i) % len(self.ids)] for i in range(n)]
        self.cursor += n
        return picked

    def insert(self, ids: list[str]) -> None:
        batch = replace(self.graph, entities=[self.held[i][0] for i in ids], triples=[self.held[i][1] for i in ids])
        load_graph(self.store, batch, batch_size=self.settings.write_batch_size)

    def visible(self, ids: list[str]) -> dict | None:
        row = execute(self.store, "bench/visible", {"ids": ids, "name": WATERMARK}, read_only=True)[0]
        return row if row["done"] else None

    def one(self, ids: list[str], trigger, poll_s: float = 0.02, timeout_s: float = 120.0,
            before_delete=None) -> tuple[float, dict]:
        entities = [self.held[i][0] for i in ids]
        self.cache.forget([text_key(node_text(e.name, e.description)) for e in entities])
        started = time.perf_counter()
        self.insert(ids)
        trigger()
        while (seen := self.visible(ids)) is None:
            if time.perf_counter() - started > timeout_s:
                raise TimeoutError(f"{len(ids)} products not scored within {timeout_s} s")
            time.sleep(poll_s)
        seconds = time.perf_counter() - started
        if before_delete is not None:
            before_delete(ids, seen)
        execute(self.store, "bench/delete_entities", {"ids": ids})
        return seconds, seen


def quality(seen: dict, held: dict, ids: list[str]) -> dict:
    written = {(h, r, t) for h, r, t in seen["written"] if r is not None}
    truth = {(t.head, t.rel_type, t.tail) for i in ids for t in held[i][2]}
    per_rel = {}
    for rel in sorted({r for _, r, _ in truth | written}):
        w = {x for x in written if x[1] == rel}
        tr = {x for x in truth if x[1] == rel}
        per_rel[rel] = {"written": len(w), "correct": len(w & tr), "held_back": len(tr),
                        "precision": round(len(w & tr) / len(w), 4) if w else None,
                        "recall": round(len(w & tr) / len(tr), 4) if tr else None}
    hits = len(written & truth)
    return {"products": len(ids), "written": len(written), "correct": hits, "held_back": len(truth),
            "precision": round(hits / len(written), 4) if written else None,
            "recall": round(hits / len(truth), 4) if truth else None, "per_relation": per_rel}


@torch.no_grad()
def rank_quality(store, settings: Settings, base, ids: list[str], held: dict) -> dict:
    """Filtered, type-constrained rank of each held-back true tail among all candidates, as the tick scores them
    (the products' k-hop neighbourhood from the store, their text, the base model extended): MRR and Hits@10."""
    hood = read_neighbourhood(store, ids, base.hops)
    new_ids, texts, _ = new_node_texts(base, hood)
    x = encode_texts(texts, base.cfg.encoder or settings.embed_model, settings.cache_dir) \
        if base.model.text_x is not None else None
    prep = extend(base, hood, new_ids, texts, x, {}, own_run_id="quality")
    snap = prep.snapshot
    index = {node_id: i for i, node_id in enumerate(snap.node_ids)}
    allowed = relation_ranges(snap, splits=None)
    known = defaultdict(set)
    for h, r, t in snap.triples().tolist():
        known[(h, r)].add(t)
    truth = defaultdict(set)
    for i in ids:
        for t in held[i][2]:
            if t.tail in index and t.rel_type in snap.rel_names:
                truth[(index[i], snap.rel_names.index(t.rel_type))].add(index[t.tail])
    ranks = defaultdict(list)
    for (h, r), tails in sorted(truth.items()):
        scores = prep.model.score_tails(prep.states, torch.tensor([h]), torch.tensor([r]))[0]
        blocked = torch.zeros_like(allowed[r])
        blocked[list(known[(h, r)] | tails)] = True
        blocked[h] = True
        for t in sorted(tails):
            valid = allowed[r] & ~blocked
            valid[t] = True
            ranks[snap.rel_names[r]].append(int((scores[valid] > scores[t]).sum()) + 1)
    out = {}
    for rel, rk in sorted(ranks.items()):
        a = np.asarray(rk, dtype=float)
        out[rel] = {"queries": len(a), "mrr": round(float((1 / a).mean()), 4),
                    "hits@1": round(float((a <= 1).mean()), 4), "hits@10": round(float((a <= 10).mean()), 4)}
    every = np.asarray([x for rk in ranks.values() for x in rk], dtype=float)
    out["all"] = {"queries": len(every), "mrr": round(float((1 / every).mean()), 4) if len(every) else None,
                  "hits@1": round(float((every <= 1).mean()), 4) if len(every) else None,
                  "hits@10": round(float((every <= 10).mean()), 4) if len(every) else None}
    return out


def run_realtime(settings: Settings, data: Path, *, held_out: int = 100, time_budget: float = 120.0, seed: int = 0,
                 sizes: dict[int, int] | None = None, queue: bool = True, progress: ProgressFn | None = None) -> dict:
    sizes = sizes or SIZES
    graph_name = graph_name_for(data) + "_realtime"
    settings = settings.model_copy(update={"graph": graph_name})
    store = open_store(settings)
    store.delete_graph()
    base_graph, held = split_new_products(parse_dataset_dir(data), held_out, seed)
    load_graph(store, base_graph, batch_size=settings.write_batch_size, progress=progress)
    result = run_pipeline(store, settings, PipelineConfig(train=TrainConfig(time_budget_s=time_budget, seed=seed)),
                          progress=progress)
    trials = Trials(store, settings, held, base_graph)
    cache = BaseCache()
    score_new(store, settings, cache)  # warm: the model loaded, the encoder loaded, the watermark set
    report = {"direct": {}, "queue": {}}
    first_full = None
    for n, count in sizes.items():
        times, edges = [], []
        for _ in range(count):
            def judge(ids, seen, n=n):
                nonlocal first_full
                if n >= 100 and first_full is None:
                    first_full = {**quality(seen, held, ids), "ranking": rank_quality(
                        store, settings, cache.get(settings, latest_base_row(store, settings)), ids, held)}

            seconds, seen = trials.one(trials.next_products(n), lambda: score_new(store, settings, cache),
                                       before_delete=judge)
            times.append(seconds)
            edges.append(seen["edges"])
        report["direct"][str(n)] = {**percentiles(times), "edges_per_trial": round(float(np.mean(edges)), 2)}
        if progress:
            progress("direct trials", list(sizes).index(n) + 1, len(sizes))
    if queue:
        env = {"KGP_STORE": "falkordb", "KGP_HOME": str(settings.home), "KGP_GRAPH": graph_name,
               "KGP_FALKORDB_PORT": str(settings.falkordb_port), "KGP_INCREMENTAL_INTERVAL_S": "0"}
        app = celery_app(settings)
        with WorkerProcess(env, settings.home / "logs" / "realtime-worker.log", queues="cpu"):
            app.send_task("workers.tasks.score_new", kwargs={"graph": graph_name}).get(timeout=300)  # warm
            for n, count in sizes.items():
                times, edges = [], []
                for _ in range(count):
                    seconds, seen = trials.one(trials.next_products(n), lambda: app.send_task(
                        "workers.tasks.score_new", kwargs={"graph": graph_name}))
                    times.append(seconds)
                    edges.append(seen["edges"])
                report["queue"][str(n)] = {**percentiles(times), "edges_per_trial": round(float(np.mean(edges)), 2)}
    base_row = latest_base_row(store, settings)
    return {
        "dataset": Path(data).resolve().name, "backend": store.backend, "graph": graph_name,
        **report, "quality": first_full,
        "base_run": {"run_id": base_row["run_id"], "time_budget_s": time_budget, "test": result.metrics.get("test"),
                     "nodes": result.counts.get("nodes"), "edges": result.counts.get("edges")},
        "held_out_products": len(held), "revealed_edges": dict(Counter(v[1].rel_type for v in held.values())),
        "machine": {"cpus": os.cpu_count(), "load_avg_5min": os.getloadavg()[1]},
        "protocol": __doc__.split("Protocol (one dataset, one run; bench/results/realtime.json):")[1].strip(),
    }


def render_realtime_markdown(report: dict) -> str:
    lines = [f"# Real-time extension: {report['dataset']}", "",
             "Regenerate with `kgp bench realtime --data ../shared/datasets/amazon-magazine-2018 --json "
             "--out bench/results/realtime.json --md bench/results/realtime.md`. Protocol in "
             "kgplatform/bench/realtime.py. Time = insert until the store shows the products scored and their "
             f"edges written; base model trained {report['base_run']['time_budget_s']:g} s without the "
             f"{report['held_out_products']} held-out products; load average "
             f"{report['machine']['load_avg_5min']:.1f} on {report['machine']['cpus']} CPUs.", "",
             "| path | new products | p50 (s) | p95 (s) | max (s) | trials | edges written per trial | "
             "per new product |",
             "|---|---|---|---|---|---|---|---|"]
    for path in ("direct", "queue"):
        for n, r in report[path].items():
            lines.append(f"| {path} | {n} | {r['p50_s']:.3f} | {r['p95_s']:.3f} | {r['max_s']:.3f} | {r['trials']} | "
                         f"{r['edges_per_trial']} | {r['edges_per_trial'] / int(n):.2f} |")
    q = report.get("quality")
    if q:
        per_product = q["written"] / q["products"] if q["products"] else 0.0
        lines += ["", f"Quality of the written edges of {q['products']} new products (text + one revealed edge) "
                  f"against their held-back true edges ({per_product:.2f} edges per product):", "",
                  "| relation | written | correct | held back | precision | recall |", "|---|---|---|---|---|---|"]
        rows = [(rel, r) for rel, r in q["per_relation"].items()] + [("all", q)]
        for rel, r in rows:
            lines.append(f"| {rel} | {r['written']} | {r['correct']} | {r['held_back']} | {_fmt(r['precision'])} | "
                         f"{_fmt(r['recall'])} |")
        earlier = (report.get("before") or {}).get("quality")
        if earlier:
            lines += ["", "Before and now, the same protocol (before: the committed run this one replaced, base "
                      f"model trained {report['before']['base_run']['time_budget_s']:g} s):", "",
                      "| run | written | per new product | correct | precision | recall |", "|---|---|---|---|---|---|"]
            for label, r in (("before", earlier), ("now", q)):
                lines.append(f"| {label} | {r['written']} | {r['written'] / max(r['products'], 1):.2f} | "
                             f"{r['correct']} | {_fmt(r['precision'])} | {_fmt(r['recall'])} |")
        lines += ["", "Ranking of the held-back tails among all type-valid candidates (filtered):", "",
                  "| relation | queries | MRR | Hits@1 | Hits@10 |", "|---|---|---|---|---|"]
        for rel, r in q.get("ranking", {}).items():
            lines.append(f"| {rel} | {r['queries']} | {_fmt(r['mrr'])} | {_fmt(r.get('hits@1'))} | "
                         f"{_fmt(r['hits@10'])} |")
    return "\n".join(lines) + "\n"


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"
