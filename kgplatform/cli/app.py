"""`kgp`: the root command. Thin: each group lives in its own module; errors become one red line and exit code 2."""

from __future__ import annotations

import typer
from pydantic import ValidationError

from kgplatform.cli.api import clients_app, serve_api
from kgplatform.cli.bench import bench_app
from kgplatform.cli.common import console
from kgplatform.cli.demo import demo
from kgplatform.cli.finetune import discover_entities, finetune_text
from kgplatform.cli.incremental import score_new, watch
from kgplatform.cli.jobs import jobs_app, worker
from kgplatform.cli.recommend import recommend_command, recommend_run_command
from kgplatform.cli.review import review_app
from kgplatform.cli.runs import pipeline, runs_app
from kgplatform.cli.serve import explain, serve
from kgplatform.cli.store import cypher, db_app, ingest
from kgplatform.errors import KgpError

app = typer.Typer(help="kgplatform: complete product/entity knowledge graphs.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
app.add_typer(db_app, name="db")
app.command("ingest")(ingest)
app.command("cypher")(cypher)
app.command("pipeline")(pipeline)
app.command("finetune-text")(finetune_text)
app.command("discover-entities")(discover_entities)
app.add_typer(runs_app, name="runs")
app.add_typer(jobs_app, name="jobs")
app.command("worker")(worker)
app.command("score-new")(score_new)
app.command("watch")(watch)
app.add_typer(review_app, name="review")
app.command("explain")(explain)
app.command("serve")(serve)
app.command("serve-api")(serve_api)
app.add_typer(clients_app, name="api-clients")
app.command("demo")(demo)
app.command("recommend")(recommend_command)
app.command("recommend-run")(recommend_run_command)
app.add_typer(bench_app, name="bench")


def main() -> None:
    try:
        app()
    except (KgpError, ValidationError, ValueError) as exc:
        console.print("[red]error:[/] ", end="")
        console.print(str(exc), markup=False, highlight=False)
        raise SystemExit(2) from None
