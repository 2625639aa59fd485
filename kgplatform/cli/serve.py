"""`kgp explain` (the evidence behind one predicted edge) and `kgp serve` (the review page)."""

from __future__ import annotations

import sys
from typing import Optional

import typer
from rich.table import Table
from rich.text import Text  # graph text is never rich markup

from kgplatform.cli.common import AsJson, console, emit_json, out, settings
from kgplatform.cli.review import default_reviewer
from kgplatform.errors import KgpError
from kgplatform.graph.names import check_rel_type
from kgplatform.graph.schema import relation_registry
from kgplatform.graph.store import execute, open_store
from kgplatform.settings import Settings


def explain_edge(configured: Settings, head: str, rel_type: str, tail: str, run_id: str | None) -> dict:
    """Recompute the evidence of a written edge from its run directory (the store only to find the run)."""
    from kgplatform.explain.explainer import summarize  # torch and the run's tensors: only for this command
    from kgplatform.pipeline.rundir import RunDir
    from kgplatform.pipeline.runstore import open_run, runs_location
    from kgplatform.pipeline.steps import load_explainer

    check_rel_type(rel_type)
    edge = f"({head})-[:{rel_type}]->({tail})"
    if run_id is None:
        rows = execute(open_store(configured), "web/edge", {"head": head, "tail": tail, "run_id": None},
                       read_only=True, rel_type=rel_type)
        if not rows:
            raise KgpError(f"no predicted edge {edge} in graph {configured.graph_name!r}; check the ids and type "
                           "(`kgp cypher --file web/edges_page --json` lists predicted edges), or give --run RUN")
        run_id = rows[0]["run_id"]
    folder = open_run(configured, run_id)
    if not folder.has(RunDir.SNAPSHOT):
        raise KgpError(f"the run directory of {run_id} is missing from {runs_location(configured)} or has no "
                       f"{RunDir.SNAPSHOT}; KGP_HOME (or KGP_RUNS_URL) must be where the run was written")
    predictions = folder.load_predictions() if folder.has(RunDir.PREDICTIONS) else []
    prediction = next((p for p in predictions if (p["head"], p["rel_type"], p["tail"]) == (head, rel_type, tail)),
                      None)
    if prediction is None:
        raise KgpError(f"run {run_id} did not predict {edge} (not in {folder.file(RunDir.PREDICTIONS)})")
    explanation = load_explainer(folder).explain(head, rel_type, tail)
    source = relation_registry(open_store(configured)).get(rel_type, {}).get("source_id")
    return {"run_id": run_id, "probability": prediction["probability"], "score": prediction["score"],
            "evidence": summarize(explanation, prediction["probability"]), "rel_source": source, **explanation}


def explain(head: str = typer.Argument(..., help="the head's id"),
            rel_type: str = typer.Argument(..., help="the relationship type, e.g. HAS_BRAND"),
            tail: str = typer.Argument(..., help="the tail's id"),
            run_id: Optional[str] = typer.Option(None, "--run", help="the run that predicted it (default: the "
                                                 "newest run that wrote this edge, looked up in the store)"),
            as_json: AsJson = False):
    """The evidence behind a predicted edge: supporting paths, similar linked nodes, mentions in the head's text."""
    result = explain_edge(settings(), head, rel_type, tail, run_id)
    if as_json:
        emit_json(result)
        return
    h, t = result["head"], result["tail"]
    out.print(f"{h['name']} ({h['id']}) -[:{rel_type}]-> {t['name']} ({t['id']})", markup=False, highlight=False)
    out.print(f"run {result['run_id']}  probability {result['probability']:.3f}  score {result['score']:.3f}")
    if result.get("rel_source") and result["rel_source"] != rel_type:
        out.print(f"{rel_type} is the relation {result['rel_source']}", markup=False, highlight=False)
    if result["paths"]:
        table = Table("path", "rule confidence", "support", "instances", title="supporting paths (best first)")
        for p in result["paths"]:
            table.add_row(Text(p["text"]), f"{p['confidence']:.3f}", str(p["support"]), str(p["instances"]))
        out.print(table)
    else:
        out.print("no path of length 2-3 joins head and tail in the asserted graph")
    if result["neighbours"]:
        table = Table("node", "id", "cosine", title=f"most similar nodes ({result['neighbour_basis']}) with "
                      f"{rel_type} to the tail")
        for n in result["neighbours"]:
            table.add_row(Text(n["name"]), Text(n["id"]), f"{n['similarity']:.3f}")
        out.print(table)
    for m in result["mentions"]:
        out.print(f"head text {'names the tail' if m['match'] == 'name' else 'shares a word'}: {m['snippet']}",
                  markup=False, highlight=False)
    out.print(f"evidence: {result['evidence']}", markup=False, highlight=False)


def serve(host: str = typer.Option("127.0.0.1", help="address to listen on"),
          port: int = typer.Option(8765, help="port to listen on"),
          reviewer: str = typer.Option("", help="name recorded with reviews made on the page (default $USER)")):
    """The review page: proposed edges with evidence and a graph view; accept / reject (token-protected)."""
    import uvicorn

    from kgplatform.review.api import create_app, new_token  # the run directory's torch: only for this command

    configured = settings()
    token = configured.review_token or new_token()
    app = create_app(configured, token, reviewer=reviewer or default_reviewer() or "review-page")
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::") else host
    address = f"http://{shown}:{port}/"
    if configured.review_token:  # a configured secret is never printed (terminal scrollback, logs, CI output)
        console.print(f"KGP_REVIEW_TOKEN is configured: open {address}?token=<KGP_REVIEW_TOKEN> once (it sets a "
                      "cookie), or send Authorization: Bearer <KGP_REVIEW_TOKEN>", markup=False, highlight=False,
                      soft_wrap=True)
        out.print(f"review page: {address}", markup=False, highlight=False, soft_wrap=True)
    else:  # generated for this session only: printing it is the only way to hand it over
        console.print("KGP_REVIEW_TOKEN is not set: generated a token for this session", markup=False)
        out.print(f"review page: {address}?token={token}", markup=False, highlight=False, soft_wrap=True)
    sys.stdout.flush()  # scripts (and the browser test) read the address before the server logs anything
    uvicorn.run(app, host=host, port=port, log_level="warning")
