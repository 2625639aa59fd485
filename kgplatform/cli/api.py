"""`kgp serve-api` (the recommendation API) and `kgp api-clients` (its named client tokens)."""

from __future__ import annotations

import logging
import sys
from typing import Optional

import typer
from rich.table import Table

from kgplatform.cli.common import AsJson, console, emit_json, out, settings
from kgplatform.errors import KgpError
from kgplatform.serving.tokens import add_client, clients_file, read_clients, revoke_client

clients_app = typer.Typer(help="Named client tokens of the recommendation API (kgp serve-api).", no_args_is_help=True)


@clients_app.command("add")
def add(name: str = typer.Argument(..., help="the client's name, as the access log shows it"),
        rotate: bool = typer.Option(False, "--rotate", help="replace the token of an existing client")):
    """Create a client and print its token once (only its SHA-256 is kept, in $KGP_HOME/api-clients.json)."""
    token = add_client(clients_file(settings().home), name, rotate=rotate)
    console.print(f"client {name!r}: send Authorization: Bearer <token>. It is shown only now:", markup=False)
    out.print(token, markup=False, highlight=False)


@clients_app.command("list")
def list_clients(as_json: AsJson = False):
    """The configured clients (names and creation times; never tokens)."""
    clients = read_clients(clients_file(settings().home))
    rows = [{"name": n, "created_at": e.get("created_at")} for n, e in sorted(clients.items())]
    if as_json:
        emit_json(rows)
        return
    table = Table("client", "created")
    for r in rows:
        table.add_row(r["name"], r["created_at"] or "")
    out.print(table)


@clients_app.command("revoke")
def revoke(name: str = typer.Argument(..., help="the client to remove")):
    """Remove a client: its token stops working when the API restarts."""
    if not revoke_client(clients_file(settings().home), name):
        raise KgpError(f"no client {name!r} in {clients_file(settings().home)}")
    console.print(f"revoked {name!r}; restart `kgp serve-api` for it to take effect", markup=False)


def serve_api(host: str = typer.Option("127.0.0.1", help="address to listen on"),
              port: int = typer.Option(8766, help="port to listen on"),
              run_id: Optional[str] = typer.Option(None, "--run", help="serve this run, and never swap (default: "
                                                   "the newest completed recommendation run, followed)"),
              poll_s: float = typer.Option(2.0, "--poll-s", min=0.1, help="look for new products this often"),
              reload_s: float = typer.Option(60.0, "--reload-s", min=0.0,
                                             help="look for a newer completed run this often (0: never)")):
    """The recommendation API: recommendations, similar items, keyword search, new interactions (OpenAPI at
    /docs). Needs a completed `kgp recommend-run` and at least one client (`kgp api-clients add NAME`)."""
    import faiss
    import torch
    import uvicorn
    from threadpoolctl import threadpool_limits

    from kgplatform.graph.store import open_store
    from kgplatform.serving.api import create_api
    from kgplatform.serving.service import RecommendationService
    from kgplatform.serving.tokens import load_tokens

    configured = settings()
    tokens = load_tokens(configured.home, configured.api_tokens)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    console.print(f"loading the recommender of graph {configured.graph_name!r} ...", markup=False)
    store = open_store(configured, create_missing=False)  # a misspelt KGP_GRAPH is refused, never created
    service = RecommendationService(configured, store, run_id=run_id)  # each run with its own encoder
    # Loaded (text encoding uses every core); now many small requests, each on one thread: BLAS, OpenMP and torch
    # pools contend with the other requests (measured: exact scoring of 25k items went from 0.35 ms to 12 ms with
    # numpy's BLAS pool on a busy machine).
    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    threadpool_limits(1)
    service.start_following(poll_s=poll_s, reload_s=0.0 if run_id else reload_s)
    described = service.describe()
    console.print(f"serving run {described['run_id']} ({described['items']} items, index "
                  f"{described['index'].get('kind')}) for {len(tokens.digests)} client(s)", markup=False)
    out.print(f"recommendation API: http://{host}:{port}/api  (docs: http://{host}:{port}/docs)", markup=False,
              highlight=False, soft_wrap=True)
    sys.stdout.flush()
    uvicorn.run(create_api(service, tokens), host=host, port=port, log_level="warning")
