"""`kgp demo`: generate a catalog, load it, train, write predictions, and show what was written; then people buy
from the catalog and the recommender writes each of them a top-N list (demo/recommend.py)."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.table import Table

from kgplatform.demo.catalog import generate_catalog, write_dataset
from kgplatform.demo.recommend import print_recommendations, run_recommend_demo
from kgplatform.graph.store import open_store
from kgplatform.ingest.load import ingest_path
from kgplatform.learn.config import TrainConfig
from kgplatform.pipeline.config import PipelineConfig
from kgplatform.pipeline.steps import run_pipeline
from kgplatform.progress import RichProgress
from kgplatform.settings import Settings

DEMO_GRAPH = "demo"
REC_BUDGET_SHARE = 0.25  # the recommender's training budget, as a share of the link predictor's
INSPECT_CYPHER = """MATCH (h:Entity)-[r]->(t:Entity)
WHERE r.run_id = '{run_id}' AND r.predicted = true
RETURN h.name AS head, type(r) AS rel, t.name AS tail, r.probability AS p, r.status AS status
ORDER BY p DESC LIMIT 25"""


def recovered_share(predictions: list[dict], held_back: list[tuple[str, str, str]]) -> dict:
    """How many written edges are held-back true links: the demo's ground truth for precision and recall."""
    truth = set(held_back)
    hits = [p for p in predictions if (p["head"], p["rel_type"], p["tail"]) in truth]
    per_type = Counter(p["rel_type"] for p in hits)
    held_per_type = Counter(r for _, r, _ in held_back)
    return {"written": len(predictions), "held_back": len(truth), "recovered": len(hits),
            "precision": len(hits) / len(predictions) if predictions else 0.0,
            "recall": len(hits) / len(truth) if truth else 0.0,
            "per_type": {r: {"recovered": per_type.get(r, 0), "held_back": n} for r, n in held_per_type.items()}}


def run_demo(settings: Settings, *, time_budget: float = 90.0, console: Console | None = None,
             progress_console: Console | None = None, quiet: bool = False, seed: int = 7) -> dict:
    console = console or Console()
    catalog = generate_catalog(seed=seed)
    folder = settings.home / "demo" / "catalog"
    write_dataset(catalog, folder)
    store = open_store(settings, graph=DEMO_GRAPH)
    if store.backend == "falkordb":
        store.delete_graph()  # the demo graph holds only generated data: start clean so reruns compare
    settings = settings.model_copy(update={"graph": DEMO_GRAPH})
    with RichProgress(progress_console, enabled=not quiet) as progress:
        ingest = ingest_path(store, folder, batch_size=settings.write_batch_size, progress=progress)
        cfg = PipelineConfig(train=TrainConfig(time_budget_s=time_budget, seed=seed))
        result = run_pipeline(store, settings, cfg, progress=progress)
        recommend = run_recommend_demo(store, settings, catalog, time_budget=REC_BUDGET_SHARE * time_budget,
                                       seed=seed, progress=progress)
    recovery = recovered_share(result.predictions, catalog.held_back)
    report = {"run_id": result.run_id, "graph": store.graph_name, "backend": store.backend,
              "catalog": {"entities": ingest["entities"], "relationships": ingest["triples"],
                          "held_back": len(catalog.held_back)},
              "written_per_type": result.counts["written_per_type"], "recovery": recovery,
              "test": {k: v for k, v in (result.metrics.get("test") or {}).items() if k != "per_relation"},
              "thresholds": result.metrics["calibration"]["per_group"],
              "validation": result.metrics["calibration"]["summary"], "timings_s": result.timings_s,
              "examples": result.predictions[:8], "target_precision": cfg.target_precision,
              "inspect_cypher": INSPECT_CYPHER.format(run_id=result.run_id), "recommend": recommend}
    if not quiet:
        print_report(console, report)
    return report


def print_report(console: Console, report: dict) -> None:
    cat = report["catalog"]
    console.print(f"\n[bold]Demo catalog[/]: {cat['entities']} entities, {cat['relationships']} relationships "
                  f"loaded into {report['backend']} graph '{report['graph']}'; "
                  f"{cat['held_back']} true links held back.")
    table = Table("relationship type", "threshold: head has none", "threshold: head has one", "written",
                  "held-back links recovered", title=f"run {report['run_id']}")
    per_type = report["recovery"]["per_type"]

    def shown(rel: str, bucket: str) -> str:
        threshold = report["thresholds"].get(f"{rel}|head has {bucket}", {}).get("threshold")
        return f"p ≥ {threshold:.2f}" if threshold is not None else "unreachable"

    for rel in sorted({key.split("|")[0] for key in report["thresholds"]}):
        rec = per_type.get(rel, {"recovered": 0, "held_back": 0})
        table.add_row(rel, shown(rel, "none"), shown(rel, "one"), str(report["written_per_type"].get(rel, 0)),
                      f"{rec['recovered']} of {rec['held_back']}")
    console.print(table)
    rec = report["recovery"]
    console.print(f"recovered {rec['recovered']} of {rec['held_back']} held-back links; precision of the written "
                  f"edges against them {rec['precision']:.2f} (target {report['target_precision']:.2f}, "
                  f"reached on validation per group; 'unreachable' groups write nothing)")
    if report["test"]:
        console.print(f"test filtered MRR {report['test']['mrr']:.3f}, Hits@10 {report['test']['hits@10']:.3f}")
    examples = Table("head", "type", "tail", "probability", title="examples")
    for p in report["examples"]:
        examples.add_row(p["head"], p["rel_type"], p["tail"], f"{p['probability']:.2f}")
    console.print(examples)
    prefix = f"KGP_GRAPH={report['graph']} " if report["backend"] == "falkordb" else ""
    console.print(f"Inspect them:\n  {prefix}kgp cypher \"" + " ".join(report["inspect_cypher"].split()) + "\"",
                  markup=False, highlight=False, soft_wrap=True)
    console.print(f"  {prefix}kgp runs show {report['run_id']}\n  {prefix}kgp runs retract {report['run_id']}",
                  markup=False, highlight=False)
    print_recommendations(console, report["recommend"], prefix)
