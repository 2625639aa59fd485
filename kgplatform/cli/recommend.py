"""`kgp recommend USER`: a person's recommendations as the graph holds them (graph/recommendations.py).

Commands about recommendations live here, one function each, registered in cli/app.py.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text  # graph text is never rich markup

from kgplatform.cli.common import AsJson, NoText, TimeBudget, console, emit_json, open_configured_store, out, settings
from kgplatform.graph.recommendations import read_recommendations
from kgplatform.graph.store import open_store
from kgplatform.progress import RichProgress
from kgplatform.recommend.config import RecConfig, RecRunConfig

SHOWN = ("item", "name", "score", "rank", "evidence")


def recommend_command(user_id: Annotated[str, typer.Argument(help="the user's id, as in (:User {id})")],
                      k: Annotated[int, typer.Option("--k", min=1, max=1000, help="at most this many items")] = 20,
                      as_json: AsJson = False):
    """A user's recommendations from the newest recommendation run written to the graph, best first, each with
    the graph path that explains it."""
    store = open_store(settings(), create_missing=False)  # a misspelt KGP_GRAPH is an error, not a new graph
    rows = [{key: r[key] for key in SHOWN} for r in read_recommendations(store, user_id, k)]
    if as_json:
        emit_json(rows)
        return
    if not rows:
        out.print(Text(f"no recommendations for user {user_id}"))
        return
    table = Table("rank", "item", "name", "score", "evidence")
    for r in rows:
        table.add_row(str(r["rank"]), Text(str(r["item"])), Text(str(r["name"] or "")),
                      f"{r['score']:.4f}" if r["score"] is not None else "", Text(str(r["evidence"] or "")))
    out.print(table)


def rec_run_config(time_budget: float, top_n: int, alpha: float, no_text: bool, no_kg: bool,
                   item_label: str) -> RecRunConfig:
    """The run's config from the shared options (`kgp recommend-run`, `kgp jobs submit recommend`)."""
    return RecRunConfig(top_n=top_n, item_label=item_label,
                        train=RecConfig(time_budget_s=time_budget, alpha=alpha, use_text=not no_text,
                                        use_kg=not no_kg))


TopN = Annotated[int, typer.Option("--top-n", min=1, max=1000, help="recommendations written per user")]
Alpha = Annotated[float, typer.Option("--alpha", min=0.0, help="weight of the KG link loss: L = L_BPR + α·L_KG")]
NoKG = Annotated[bool, typer.Option("--no-kg", help="behaviour only (LightGCN): no knowledge-graph propagation")]
ItemLabel = Annotated[str, typer.Option("--item-label", help="label of recommendable items")]


def recommend_run_command(time_budget: TimeBudget = 300.0, top_n: TopN = 20, alpha: Alpha = 0.1,
                          no_text: NoText = False, no_kg: NoKG = False, item_label: ItemLabel = "Product",
                          shards: Annotated[int, typer.Option("--shards", min=1, max=256,
                                                              help="score users in this many shards")] = 1,
                          as_json: AsJson = False):
    """Export people, behaviour and the KG -> train the recommender -> write each user's top N back as
    RECOMMENDED edges with evidence (replacing their older ones)."""
    from kgplatform.pipeline.recsteps import run_recommend_pipeline  # torch: only when a run is asked for

    cfg = rec_run_config(time_budget, top_n, alpha, no_text, no_kg, item_label)
    with RichProgress(console, enabled=not as_json) as progress:
        summary = run_recommend_pipeline(open_configured_store(), settings(), cfg, num_shards=shards,
                                         progress=progress)
    summary.pop("history", None)
    if as_json:
        emit_json(summary)
        return
    test = summary.get("test") or {}
    out.print(f"[bold]run {summary['run_id']}[/]: {summary['counts']['recommendations']} recommendations for "
              f"{summary['counts']['users']} users")
    if test:
        out.print(f"held-out (latest per user) Recall@20 {test['recall@20']:.3f}  NDCG@20 {test['ndcg@20']:.3f}")
    out.print(f"see one: kgp recommend USER_ID    retract: kgp runs retract {summary['run_id']}")
