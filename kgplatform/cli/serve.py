"""`kgp explain` (the evidence behind one predicted edge) and `kgp serve` (the review page)."""

from __future__ import annotations

import json
import sys
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text  # graph text is never rich markup

from .errors import KgpError
from .settings import Settings

console = Console(stderr=True)
out = Console()


def find_prediction(folder, head: str, rel_type: str, tail: str) -> dict | None:
    path = folder / "predictions.jsonl"
    if not path.is_file():
        return None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            p = json.loads(line)
            if (p["head"], p["rel_type"], p["tail"]) == (head, rel_type, tail):
                return p
    return None


def explain_edge(settings: Settings, head: str, rel_type: str, tail: str, run_id: str | None) -> dict:
    """Recompute the evidence of a written edge from its run directory (the store only to find the run)."""
    from .explain import summarize
    from .names import check_rel_type
    from .run_steps import load_explainer

    check_rel_type(rel_type)
    edge = f"({head})-[:{rel_type}]->({tail})"
    if run_id is None:
        from .store import open_store, run

        rows = run(open_store(settings), "web/edge", {"head": head, "tail": tail, "run_id": None},
                   read_only=True, rel_type=rel_type)
        if not rows:
            raise KgpError(f"no predicted edge {edge} in graph {settings.graph_name!r}; check the ids and type "
                           "(`kgp cypher --file web/edges_page --json` lists predicted edges), or give --run RUN")
        run_id = rows[0]["run_id"]
    folder = settings.runs_dir / run_id
    if not (folder / "snapshot.pt").is_file():
        raise KgpError(f"run directory {folder} is missing or has no snapshot.pt; KGP_HOME must be the one the "
                       f"run wrote to ({settings.home})")
    prediction = find_prediction(folder, head, rel_type, tail)
    if prediction is None:
        raise KgpError(f"run {run_id} did not predict {edge} (not in {folder / 'predictions.jsonl'})")
    explanation = load_explainer(folder).explain(head, rel_type, tail)
    return {"run_id": run_id, "probability": prediction["probability"], "score": prediction["score"],
            "evidence": summarize(explanation, prediction["probability"]), **explanation}


def explain(head: str = typer.Argument(..., help="the head's id"),
            rel_type: str = typer.Argument(..., help="the relationship type, e.g. HAS_BRAND"),
            tail: str = typer.Argument(..., help="the tail's id"),
            run_id: Optional[str] = typer.Option(None, "--run", help="the run that predicted it (default: the "
                                                 "newest run that wrote this edge, looked up in the store)"),
            as_json: bool = typer.Option(False, "--json")):
    """The evidence behind a predicted edge: supporting paths, similar linked nodes, mentions in the head's text."""
    result = explain_edge(Settings(), head, rel_type, tail, run_id)
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return
    h, t = result["head"], result["tail"]
    out.print(f"{h['name']} ({h['id']}) -[:{rel_type}]-> {t['name']} ({t['id']})", markup=False, highlight=False)
    out.print(f"run {result['run_id']}  probability {result['probability']:.3f}  score {result['score']:.3f}")
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

    from .cli_review import default_reviewer
    from .serve import create_app, new_token

    settings = Settings()
    token = settings.review_token or new_token()
    app = create_app(settings, token, reviewer=reviewer or default_reviewer() or "review-page")
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::") else host
    if not settings.review_token:
        console.print("KGP_REVIEW_TOKEN is not set: generated a token for this session", markup=False)
    out.print(f"review page: http://{shown}:{port}/?token={token}", markup=False, highlight=False, soft_wrap=True)
    sys.stdout.flush()  # scripts (and the browser test) read the address before the server logs anything
    uvicorn.run(app, host=host, port=port, log_level="warning")
