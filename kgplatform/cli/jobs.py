"""`kgp worker` and `kgp jobs ...`: run Celery workers, and submit, follow, list and cancel jobs (link-prediction
pipelines and recommendation runs)."""

from __future__ import annotations

import os
import time
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from kgplatform.cli.common import (
    AsJson,
    Encoder,
    MaxEdges,
    NoText,
    RelTypes,
    TargetPrecision,
    Targets,
    TimeBudget,
    TopK,
    console,
    emit_json,
    out,
    pipeline_config,
)
from kgplatform.cli.finetune import (
    BatchSize,
    Budget,
    FreezeLayers,
    LearningRate,
    MinHeads,
    NoHardNegatives,
    Relations,
    SeqLength,
    discover_config,
    finetune_config,
)
from kgplatform.cli.recommend import Alpha, ItemLabel, NoKG, TopN, rec_run_config
from kgplatform.graph.store import embedded_broker
from kgplatform.graph.uris import mask_uri
from kgplatform.settings import Settings
from workers import jobs
from workers.app import app as celery_app

jobs_app = typer.Typer(help="Pipeline and recommendation jobs on the Celery workers.", no_args_is_help=True)
submit_app = typer.Typer(help="Queue a job.", no_args_is_help=True)
jobs_app.add_typer(submit_app, name="submit")
ENDED = {"SUCCESS", "FAILURE", "REVOKED"}
Shards = Annotated[int, typer.Option("--shards", min=0, max=jobs.MAX_SHARDS,
                                     help="score shards, parallel tasks (0: KGP_SCORE_SHARDS)")]
Graph = Annotated[str, typer.Option("--graph", help="the graph to run on (default KGP_GRAPH)")]
Follow = Annotated[bool, typer.Option("--follow", help="show live progress until the job ends")]
SubmitJson = Annotated[bool, typer.Option("--json", help='print {"job_id": ...}')]


def ready_settings() -> Settings:
    """Settings of this process; the embedded broker is started when it is the one configured."""
    settings = Settings()
    if settings.broker_is_embedded:
        embedded_broker(settings).start()
    return settings


def worker(queues: str = typer.Option("cpu,gpu", help="queues to consume: cpu (export, features, scoring, "
                                      "write-back) and/or gpu (training, text fine-tuning)"),
           concurrency: int = typer.Option(1, help="processes in this worker's pool"),
           loglevel: str = typer.Option("INFO"),
           name: str = typer.Option("", help="node name (default kgp-<pid>@<host>)"),
           beat: bool = typer.Option(False, "--beat", help="also run the beat schedule in this worker (score-new "
                                     "every KGP_INCREMENTAL_INTERVAL_S...): one such worker per deployment; "
                                     "docker-compose.yml runs beat as a service of its own")):
    """Run a Celery worker (the same as `celery -A workers worker -Q QUEUES [-B]`)."""
    settings = ready_settings()
    node = name or f"kgp-{os.getpid()}@%h"
    console.print(f"worker {node} on queues {queues}; broker {mask_uri(settings.broker)}", markup=False)
    argv = ["worker", "-Q", queues, "-c", str(concurrency), "-l", loglevel, "-n", node, "-E"]
    if beat:
        argv += ["-B", f"--schedule={settings.home / 'celerybeat-schedule'}"]
    celery_app.worker_main(argv)


@submit_app.command("pipeline")
def submit_pipeline(time_budget: TimeBudget = 120.0, target_precision: TargetPrecision = 0.9,
                    max_edges: MaxEdges = 10000, top_k: TopK = 10,
                    rel_type: RelTypes = [], target: Targets = [],  # noqa: B006 - typer reads defaults
                    no_text: NoText = False, encoder: Encoder = "", shards: Shards = 0, graph: Graph = "",
                    follow: Follow = False, as_json: SubmitJson = False):
    """Queue export -> featurize -> train -> score (sharded) -> write-back for the configured graph."""

    settings = ready_settings()
    cfg = pipeline_config(time_budget, target_precision, max_edges, top_k, rel_type, target, no_text, encoder)
    record = jobs.submit_pipeline(settings, cfg, graph=graph or None, num_shards=shards or None)
    submitted(settings, record, follow, as_json)


@submit_app.command("recommend")
def submit_recommend(time_budget: TimeBudget = 300.0, top_n: TopN = 20, alpha: Alpha = 0.1,
                     no_text: NoText = False, no_kg: NoKG = False, item_label: ItemLabel = "Product",
                     shards: Shards = 0, graph: Graph = "", follow: Follow = False, as_json: SubmitJson = False):
    """Queue the recommendation run as a job (what `kgp recommend-run` does in one process): export people,
    behaviour and the KG -> featurize -> train -> score users (sharded) -> write each user's top N back."""

    settings = ready_settings()
    cfg = rec_run_config(time_budget, top_n, alpha, no_text, no_kg, item_label)
    record = jobs.submit_recommend(settings, cfg, graph=graph or None, num_shards=shards or None)
    submitted(settings, record, follow, as_json)


@submit_app.command("finetune-text")
def submit_finetune(time_budget: Budget = 600.0, batch_size: BatchSize = 32, max_seq_length: SeqLength = 64,
                    freeze_layers: FreezeLayers = 0, lr: LearningRate = 3e-5,
                    no_hard_negatives: NoHardNegatives = False, graph: Graph = "", follow: Follow = False,
                    as_json: SubmitJson = False):
    """Queue the text encoder's fine-tuning on the graph (what `kgp finetune-text` does) on the gpu queue; the
    encoder is saved in that worker's KGP_HOME/encoders (the job's result names the folder)."""

    settings = ready_settings()
    cfg = finetune_config(time_budget, batch_size, max_seq_length, freeze_layers, lr, no_hard_negatives)
    record = jobs.submit_finetune(settings, cfg, graph=graph or None)
    submitted(settings, record, follow, as_json)


@submit_app.command("discover-entities")
def submit_discover(relation: Relations = [], time_budget: Budget = 300.0,  # noqa: B006 - typer reads defaults
                    min_heads: MinHeads = 2, graph: Graph = "", follow: Follow = False, as_json: SubmitJson = False):
    """Queue entity discovery (what `kgp discover-entities` does) on the gpu queue: proposed entities and their
    links are written under the job's run id."""

    settings = ready_settings()
    record = jobs.submit_discover(settings, discover_config(relation, time_budget, min_heads), graph=graph or None)
    submitted(settings, record, follow, as_json)


def submitted(settings: Settings, record: dict, follow: bool, as_json: bool) -> None:
    if as_json:
        emit_json({"job_id": record["job_id"], "run_id": record["run_id"], "kind": record["kind"],
                   "graph": record["graph"], "num_shards": record["num_shards"]})
    else:
        shards = f" ({record['num_shards']} score shards)" if record["kind"] in jobs.WRITES_GRAPH else ""
        out.print(f"submitted {record['kind']} job {record['job_id']} on graph {record['graph']!r}{shards}; "
                  f"follow it: kgp jobs status {record['job_id']} --follow", markup=False)
    if follow:
        raise typer.Exit(follow_job(settings, record["job_id"]))


@jobs_app.command("status")
def status(job_id: str, follow: bool = typer.Option(False, "--follow", help="live progress until the job ends"),
           as_json: AsJson = False):
    """State (Celery's name), step, and progress of a job."""

    settings = ready_settings()
    if follow:
        raise typer.Exit(follow_job(settings, job_id))
    info = jobs.job_status(settings, job_id)
    emit_json(info) if as_json else print_status(info)


def follow_job(settings: Settings, job_id: str, poll_s: float = 0.5) -> int:
    """A live bar per step until the job ends; exit code 0 on SUCCESS, 1 otherwise."""

    bars = Progress(TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console)
    tasks: dict[str, int] = {}
    with bars:
        while True:
            info = jobs.job_status(settings, job_id)
            for step in info["steps"]:
                if step["step"] not in tasks:
                    tasks[step["step"]] = bars.add_task(step["step"], total=None)
                if step["state"] == "SUCCESS":
                    bars.update(tasks[step["step"]], total=1, completed=1, description=f"{step['step']} done")
            if info["step"] in tasks and info["progress"]["total"]:
                bars.update(tasks[info["step"]], total=info["progress"]["total"],
                            completed=info["progress"]["current"],
                            description=f"{info['step']}: {info['stage']}"[:28])
            if info["state"] in ENDED:
                break
            time.sleep(poll_s)
    print_status(info)
    return 0 if info["state"] == "SUCCESS" else 1


def print_status(info: dict) -> None:
    p = info["progress"]
    shown = f" {p['current']}/{p['total']}" if p["total"] else ""
    out.print(f"{info['kind']} job {info['job_id']} [{info['graph']}]: {info['state']} at {info['step']} "
              f"({info['stage']}{shown})", markup=False)
    if info.get("error"):
        out.print(f"error: {info['error']}", markup=False)
    waiting = [s["step"] for s in info["steps"] if s["state"] == "PENDING"]
    if info["state"] in ("PENDING", "STARTED") and waiting and waiting[0] == info["step"]:
        queue = jobs.step_queue(info["kind"], info["step"])
        out.print(f"{info['step']} waits in queue {queue!r}: is a worker consuming it? (`kgp worker --queues "
                  f"{queue}`)", markup=False)
    result = info.get("result") if info["state"] == "SUCCESS" else None
    if result and info["kind"] == "recommend":
        written = result.get("written") or {}
        out.print(f"wrote {written.get('written')} recommendations for {written.get('users')} users; see one: "
                  f"kgp recommend USER_ID; inspect: kgp runs show {info['run_id']}", markup=False)
    elif result and info["kind"] == "finetune":
        out.print(f"encoder {result['encoder']}; text-only test MRR {result['test']['before']['mrr']:.3f} -> "
                  f"{result['test']['after']['mrr']:.3f}; use it: kgp pipeline --encoder {result['encoder']}",
                  markup=False, soft_wrap=True)
    elif result and info["kind"] == "discover":
        out.print(f"proposed {len(result['proposals'])} entities and {sum(result['links_written'].values())} links; "
                  f"review: kgp review list --run {info['run_id']}", markup=False)
    elif result:
        out.print(f"wrote {result.get('predicted')} edges {result.get('written_per_type')}; "
                  f"inspect: kgp runs show {info['run_id']}", markup=False)
    if info["state"] in ("FAILURE", "REVOKED"):
        out.print(f"clean up any partial edges: kgp runs retract {info['run_id']}", markup=False)


@jobs_app.command("list")
def list_jobs(limit: int = typer.Option(20), as_json: AsJson = False):
    """Recent jobs, newest first."""

    rows = jobs.list_jobs(ready_settings(), limit=limit)
    if as_json:
        emit_json(rows)
        return
    table = Table("job", "kind", "graph", "state", "step", "progress", "submitted (UTC)")
    for r in rows:
        p = r["progress"]
        table.add_row(r["job_id"], r["kind"], r["graph"], r["state"], r["step"], f"{p['current']}/{p['total']}",
                      time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r["submitted_at"])))
    out.print(table)


@jobs_app.command("cancel")
def cancel(job_id: str, as_json: AsJson = False):
    """Stop a job: queued steps are revoked, the running one stops at its next progress report."""

    report = jobs.cancel_job(ready_settings(), job_id)
    if as_json:
        emit_json(report)
        return
    out.print(f"cancelled job {job_id}: {report['revoked_tasks']} tasks revoked"
              + (f"; {report['running_step']} stops at its next progress report" if report["running_step"] else "")
              + f". Its run is marked 'cancelled' by the worker that stops it; if it wrote edges, remove them with: "
                f"kgp runs retract {report['run_id']}",
              markup=False)
