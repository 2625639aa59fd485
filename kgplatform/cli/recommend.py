"""`kgp recommend USER`: a person's recommendations as the graph holds them (graph/recommendations.py).

Commands about recommendations live here, one function each, registered in cli/app.py.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text  # graph text is never rich markup

from kgplatform.cli.common import AsJson, emit_json, out, settings
from kgplatform.graph.recommendations import read_recommendations
from kgplatform.graph.store import open_store

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
