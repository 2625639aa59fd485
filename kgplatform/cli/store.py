"""`kgp db ...` (the embedded FalkorDB), `kgp ingest` and `kgp cypher`: loading and reading the graph store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from kgplatform.cli.common import AsJson, console, emit_json, open_configured_store, out, settings
from kgplatform.errors import KgpError
from kgplatform.graph import cypher_files
from kgplatform.graph.store import embedded_broker, embedded_server, open_store
from kgplatform.progress import RichProgress
from kgplatform.review.analyst import prepare_params

MAX_SHOWN_NUMBERS = 16
db_app = typer.Typer(help="The embedded FalkorDB server.", no_args_is_help=True)


def embedded_servers() -> list:
    configured = settings()
    return [embedded_server(configured), embedded_broker(configured)]


@db_app.command("start")
def db_start():
    """Start the embedded FalkorDB and the embedded broker (data in $KGP_HOME, append-only files, a password)."""
    for server in embedded_servers():
        started = server.start()
        out.print(f"{server.name} {'started' if started else 'already running'} on {server.host}:{server.port}, "
                  f"data in {server.data_dir}")


@db_app.command("stop")
def db_stop():
    """Save and stop the embedded FalkorDB and the embedded broker."""
    for server in embedded_servers():
        stopped = server.stop()
        out.print(f"{server.name} stopped (data saved)" if stopped else f"{server.name} was not running")


@db_app.command("status")
def db_status(as_json: AsJson = False):
    """Whether the embedded store and broker run, where their data lives, and the graphs."""
    store, broker = embedded_servers()
    info = {"backend": settings().backend, **store.status(), "broker": broker.status()}
    emit_json(info) if as_json else out.print(info)


def ingest(path: Path = typer.Argument(..., exists=True, help="dataset folder, recommendation dataset folder, catalog "
                                                                   "CSV folder, .jsonl, RDF file (.nt, .nq, .ttl, "
                                                                   "optionally .gz) or interaction log"),
           behaviour: Optional[bool] = typer.Option(
               None, "--behaviour/--graph", help="read PATH as an interaction log (user, item, type, timestamp, ...) "
               "or as a graph; default: a .csv/.tsv file, or JSONL whose first object has a 'user' key, is a log"),
           as_json: AsJson = False):
    """Validate then load a dataset, a product catalog, a recommendation dataset (kg.tsv + interactions_*.tsv) or an
    interaction log. Re-running changes nothing."""
    from kgplatform.ingest.load import ingest_path

    store = open_configured_store()
    with RichProgress(console, enabled=not as_json) as progress:
        report = ingest_path(store, path, batch_size=settings().write_batch_size, progress=progress,
                             behaviour=behaviour)
    if as_json:
        emit_json(report)
        return
    if "entities" in report:
        out.print(f"ingested {report['entities']:,} entities and {report['triples']:,} relationships "
                  f"({report['relationships_created']:,} new) from {path}")
    people = report.get("behaviour") or (report if "users" in report else None)
    if people:
        negatives = f" and {people['negatives']:,} sampled negatives" if people["negatives"] else ""
        out.print(f"ingested {people['users']:,} people with {people['interactions']:,} interactions{negatives} "
                  f"({people['relationships_created']:,} new relationships) from {path}")


def parse_params(pairs: list[str]) -> dict:
    """k=v pairs; v is read as JSON when it parses (numbers, lists, true), else as a string."""
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.isidentifier():
            raise KgpError(f"--param {pair!r}: expected NAME=VALUE")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return params


def cypher(query: Optional[str] = typer.Argument(None, help="a read-only Cypher query"),
           file: Optional[str] = typer.Option(None, "--file", help="a statement of cypher/ by name, e.g. analyst/x"),
           param: list[str] = typer.Option([], "--param", help="NAME=VALUE (JSON values parsed)"),
           timeout: Optional[float] = typer.Option(
               None, "--timeout", min=0.001, help="seconds before the store cancels the query (default "
               "KGP_QUERY_TIMEOUT_S; at most KGP_QUERY_TIMEOUT_MAX_S)"),
           as_json: bool = typer.Option(False, "--json", help="print a JSON list of row objects")):
    """Run a read-only query on the configured store, with a deadline the store enforces."""
    if (query is None) == (file is None):
        raise KgpError("give either a QUERY or --file NAME")
    configured = settings()
    if timeout is not None and timeout > configured.query_timeout_max_s:
        raise KgpError(f"--timeout {timeout:g} is over KGP_QUERY_TIMEOUT_MAX_S ({configured.query_timeout_max_s:g})")
    folder, _, statement = (file or "").rpartition("/")
    if folder.startswith("vector/") and folder != f"vector/{configured.backend}":  # the other store's dialect
        raise KgpError(f"{file} is for {folder[7:]}; this store is {configured.backend}: "
                       f"use --file vector/{configured.backend}/{statement}")
    text = cypher_files.render(file) if file else query
    # declared parameters: defaults, types, unknown/missing ones refused
    params = prepare_params(file, parse_params(param)) if file else parse_params(param)
    store = open_store(configured, create_missing=False)  # a misspelt KGP_GRAPH is an error, not a new graph
    rows = store.query(text, params, read_only=True, timeout_s=timeout)
    if as_json:
        emit_json(rows)
        return
    table = Table(*(rows[0].keys() if rows else ["(no rows)"]))
    for row in rows:
        table.add_row(*(json.dumps(shown(v), default=str) if not isinstance(v, str) else v for v in row.values()))
    out.print(table)


def shown(value):
    """A value as the table prints it: long lists of numbers (a node's stored embedding) summarised; --json keeps
    them whole."""
    if isinstance(value, dict):
        return {k: shown(v) for k, v in value.items()}
    if isinstance(value, list):
        if len(value) > MAX_SHOWN_NUMBERS and all(isinstance(v, (int, float)) for v in value):
            return f"<{len(value)} numbers>"
        return [shown(v) for v in value]
    return value
