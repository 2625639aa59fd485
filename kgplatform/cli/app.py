"""`kgp`: the command line. Thin: parse options, open the store, call a stage, print the result."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from .cli_bench import bench_app
from .cli_incremental import score_new, watch
from .cli_jobs import jobs_app, worker
from .cli_review import review_app
from .cli_serve import explain, serve
from .errors import KgpError
from .progress import RichProgress
from .settings import Settings

app = typer.Typer(help="kgplatform: complete product/entity knowledge graphs.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
db_app = typer.Typer(help="The embedded FalkorDB server.", no_args_is_help=True)
runs_app = typer.Typer(help="Inspect and retract prediction runs.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(runs_app, name="runs")
app.add_typer(bench_app, name="bench")
app.add_typer(jobs_app, name="jobs")
app.add_typer(review_app, name="review")
app.command("worker")(worker)
app.command("explain")(explain)
app.command("serve")(serve)
app.command("score-new")(score_new)
app.command("watch")(watch)
console = Console(stderr=True)
out = Console()


def settings() -> Settings:
    return Settings()


def open_configured_store():
    from .store import open_store

    return open_store(settings())


def emit_json(value) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


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


# ---- db ---------------------------------------------------------------------------------------------------------

@db_app.command("start")
def db_start():
    """Start the embedded FalkorDB (data in $KGP_HOME/falkordb, persisted with an append-only file)."""
    from .store import embedded_server

    server = embedded_server(settings())
    started = server.start()
    out.print(f"FalkorDB {'started' if started else 'already running'} on {server.host}:{server.port}, "
              f"data in {server.data_dir}")


@db_app.command("stop")
def db_stop():
    """Save and stop the embedded FalkorDB."""
    from .store import embedded_server

    stopped = embedded_server(settings()).stop()
    out.print("FalkorDB stopped (data saved)" if stopped else "FalkorDB was not running")


@db_app.command("status")
def db_status(as_json: bool = typer.Option(False, "--json")):
    """Whether the embedded store runs, where its data lives, and its graphs."""
    from .store import embedded_server

    info = {"backend": settings().backend, **embedded_server(settings()).status()}
    emit_json(info) if as_json else out.print(info)


# ---- ingest / cypher ------------------------------------------------------------------------------------------

@app.command()
def ingest(path: Path = typer.Argument(..., exists=True, help="dataset folder, catalog CSV folder or .jsonl"),
           as_json: bool = typer.Option(False, "--json")):
    """Validate then load a dataset (entities.tsv + triples_*.tsv) or a product catalog. Re-running changes nothing."""
    from .ingest import ingest_path

    store = open_configured_store()
    with RichProgress(console, enabled=not as_json) as progress:
        report = ingest_path(store, path, batch_size=settings().write_batch_size, progress=progress)
    emit_json(report) if as_json else out.print(
        f"ingested {report['entities']:,} entities and {report['triples']:,} relationships "
        f"({report['relationships_created']:,} new) from {path}")


@app.command()
def cypher(query: Optional[str] = typer.Argument(None, help="a read-only Cypher query"),
           file: Optional[str] = typer.Option(None, "--file", help="a statement of cypher/ by name, e.g. analyst/x"),
           param: list[str] = typer.Option([], "--param", help="NAME=VALUE (JSON values parsed)"),
           as_json: bool = typer.Option(False, "--json", help="print a JSON list of row objects")):
    """Run a read-only query on the configured store."""
    from . import cypher_files

    if (query is None) == (file is None):
        raise KgpError("give either a QUERY or --file NAME")
    from .analyst import prepare_params  # declared parameters: defaults, types, unknown/missing ones refused

    text = cypher_files.render(file) if file else query
    params = prepare_params(file, parse_params(param)) if file else parse_params(param)
    rows = open_configured_store().query(text, params, read_only=True)
    if as_json:
        emit_json(rows)
        return
    table = Table(*(rows[0].keys() if rows else ["(no rows)"]))
    for row in rows:
        table.add_row(*(json.dumps(v, default=str) if not isinstance(v, str) else v for v in row.values()))
    out.print(table)


# ---- pipeline / runs ------------------------------------------------------------------------------------------

def pipeline_config(time_budget: float, target_precision: float, max_edges: int, top_k: int,
                    rel_types: list[str], target: list[str], no_text: bool):
    from .learn.config import TrainConfig
    from .pipeline import PipelineConfig

    return PipelineConfig(rel_types=rel_types, target_rel_types=target, top_k=top_k,
                          target_precision=target_precision, max_edges=max_edges,
                          train=TrainConfig(time_budget_s=time_budget, use_text=not no_text))


@app.command()
def pipeline(time_budget: float = typer.Option(120.0, help="training wall-clock budget in seconds"),
             target_precision: float = typer.Option(0.9, help="precision on validation that written edges reach"),
             max_edges: int = typer.Option(10000, help="cap on edges written by this run"),
             top_k: int = typer.Option(10, help="candidates per head and relation"),
             rel_type: list[str] = typer.Option([], "--rel-type", help="learn from these types (default all)"),
             target: list[str] = typer.Option([], "--target", help="predict these types (default all)"),
             no_text: bool = typer.Option(False, "--no-text", help="graph only: no text features"),
             as_json: bool = typer.Option(False, "--json")):
    """Export -> train -> score -> write back predicted edges for the graph in the store."""
    from .run_steps import run_pipeline

    cfg = pipeline_config(time_budget, target_precision, max_edges, top_k, rel_type, target, no_text)
    with RichProgress(console, enabled=not as_json) as progress:
        result = run_pipeline(open_configured_store(), settings(), cfg, progress=progress)
    summary = {"run_id": result.run_id, "model": result.model_name, "counts": result.counts,
               "metrics": result.metrics, "run_dir": str(result.run_dir)}
    emit_json(summary) if as_json else print_run_summary(summary)


def print_run_summary(summary: dict) -> None:
    test = summary["metrics"].get("test") or {}
    out.print(f"[bold]run {summary['run_id']}[/] model {summary['model']}")
    if test:
        out.print(f"test filtered MRR {test['mrr']:.3f}  Hits@1 {test['hits@1']:.3f}  Hits@10 {test['hits@10']:.3f}")
    out.print(f"wrote {summary['counts']['predicted']} predicted edges: {summary['counts']['written_per_type']}")
    out.print(f"inspect: kgp runs show {summary['run_id']}")


@runs_app.command("list")
def runs_list(as_json: bool = typer.Option(False, "--json")):
    """All runs in the store, newest first."""
    from .runs import list_runs

    rows = list_runs(open_configured_store())
    if as_json:
        emit_json(rows)
        return
    table = Table("run_id", "created_at", "model", "status", "predicted")
    for r in rows:
        table.add_row(r["run_id"], str(r["created_at"]), r["model"] or "", r["status"] or "",
                      str(r["counts"].get("predicted", "")))
    out.print(table)


@runs_app.command("show")
def runs_show(run_id: str, as_json: bool = typer.Option(False, "--json")):
    """A run's config, metrics, counts and its edges by type and status."""
    from .runs import show_run

    info = show_run(open_configured_store(), run_id, settings().runs_dir)
    if as_json:
        emit_json(info)
        return
    out.print_json(json.dumps(info, default=str))
    if info.get("report"):
        out.print(f"report: {Path(info['report']).as_uri()}", soft_wrap=True)


@runs_app.command("report")
def runs_report(run_id: str):
    """(Re)build report.html from the run directory (curves, per-relation metrics, calibration, thresholds)."""
    from .report import write_run_report

    folder = settings().runs_dir / run_id
    if not (folder / "config.json").is_file():
        raise KgpError(f"no run directory {folder} (KGP_HOME must be the one the run wrote to)")
    sys.stdout.write(f"{write_run_report(folder).resolve()}\n")  # plain, for scripts: `open $(kgp runs report R)`


@runs_app.command("retract")
def runs_retract(run_id: str, include_accepted: bool = typer.Option(False, help="also remove accepted edges"),
                 include_rejected: bool = typer.Option(False, help="also remove rejected edges (known negatives)"),
                 as_json: bool = typer.Option(False, "--json")):
    """Remove exactly this run's predicted relationships. Asserted facts are never touched."""
    from .runs import retract_run

    report = retract_run(open_configured_store(), run_id, include_accepted=include_accepted,
                         include_rejected=include_rejected)
    emit_json(report) if as_json else out.print(f"retracted {report['total_removed']} edges of {run_id}: "
                                                f"{report['removed']}")


# ---- demo / bench ---------------------------------------------------------------------------------------------

@app.command()
def demo(time_budget: float = typer.Option(90.0, help="training wall-clock budget in seconds"),
         as_json: bool = typer.Option(False, "--json")):
    """Generate a product catalog, load it into the embedded store, train, and write predictions."""
    from .demo import run_demo

    report = run_demo(settings(), time_budget=time_budget, console=out, progress_console=console,
                      quiet=as_json)
    if as_json:
        emit_json(report)


def main() -> None:
    try:
        app()
    except (KgpError, ValidationError, ValueError) as exc:
        console.print("[red]error:[/] ", end="")
        console.print(str(exc), markup=False, highlight=False)
        raise SystemExit(2)


if __name__ == "__main__":
    main()
