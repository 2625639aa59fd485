"""`kgp pipeline` (one prediction run in this process) and `kgp runs ...` (list, show, report, retract)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
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
    open_configured_store,
    out,
    pipeline_config,
    settings,
)
from kgplatform.errors import KgpError
from kgplatform.graph.runs import fail_dead_runs, list_runs, retract_run, show_run
from kgplatform.progress import RichProgress

runs_app = typer.Typer(help="Inspect and retract prediction runs.", no_args_is_help=True)


def pipeline(time_budget: TimeBudget = 120.0, target_precision: TargetPrecision = 0.9, max_edges: MaxEdges = 10000,
             top_k: TopK = 10, rel_type: RelTypes = [], target: Targets = [],  # noqa: B006 - typer reads defaults
             no_text: NoText = False, encoder: Encoder = "", as_json: AsJson = False):
    """Export -> train -> score -> write back predicted edges for the graph in the store."""
    from kgplatform.pipeline.steps import run_pipeline  # torch and the model: only when a run is asked for

    cfg = pipeline_config(time_budget, target_precision, max_edges, top_k, rel_type, target, no_text, encoder)
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
    choice = summary["metrics"].get("input_choice")
    if choice:
        out.print(f"inputs chosen on validation: {choice['chosen']} ({choice['inputs']}), {choice['reason']}",
                  markup=False)
    budget = summary["metrics"].get("budget")
    if budget:
        out.print(f"[yellow]warning:[/] {budget['warning']} (--time-budget)", markup=True)
    out.print(f"inspect: kgp runs show {summary['run_id']}")


@runs_app.command("list")
def runs_list(as_json: AsJson = False):
    """All runs in the store, newest first (runs whose process died are marked failed first)."""
    store = open_configured_store()
    fail_dead_runs(store)
    rows = list_runs(store)
    if as_json:
        emit_json(rows)
        return
    table = Table("run_id", "created_at", "model", "status", "predicted")
    for r in rows:
        table.add_row(r["run_id"], str(r["created_at"]), r["model"] or "", r["status"] or "",
                      str(r["counts"].get("predicted", "")))
    out.print(table)


@runs_app.command("show")
def runs_show(run_id: str, as_json: AsJson = False):
    """A run's config, metrics, counts and its edges by type and status."""
    from kgplatform.pipeline.rundir import RunDir
    from kgplatform.pipeline.runstore import open_run, run_store

    store = open_configured_store()
    fail_dead_runs(store)
    info = show_run(store, run_id)
    configured = settings()
    shared = run_store(configured)
    if shared is not None and shared.has(run_id, RunDir.CONFIG):
        info["run_url"] = shared.shown(run_id)  # never with credentials: they are not in the URL
    folder = open_run(configured, run_id, RunDir.REPORT)  # this host's working copy, with the report to open
    if folder.path.is_dir():
        info["run_dir"] = str(folder.path.resolve())
        info["report"] = str(folder.file(RunDir.REPORT).resolve()) if folder.has(RunDir.REPORT) else None
    if as_json:
        emit_json(info)
        return
    out.print_json(json.dumps(info, default=str))
    if info.get("report"):
        out.print(f"report: {Path(info['report']).as_uri()}", soft_wrap=True)


@runs_app.command("report")
def runs_report(run_id: str):
    """(Re)build report.html from the run directory (curves, per-relation metrics, calibration, thresholds)."""
    from kgplatform.pipeline.rundir import RunDir
    from kgplatform.pipeline.runstore import open_run, publish, runs_location
    from kgplatform.report.build import write_run_report

    configured = settings()
    folder = open_run(configured, run_id)
    if not folder.exists():
        raise KgpError(f"no run directory for {run_id} in {runs_location(configured)} (KGP_HOME, or KGP_RUNS_URL, "
                       "must be where the run was written)")
    report = write_run_report(folder)
    publish(configured, folder, RunDir.REPORT, RunDir.HISTOGRAM)
    sys.stdout.write(f"{report.resolve()}\n")  # plain, for scripts: `open $(kgp runs report R)`


@runs_app.command("retract")
def runs_retract(run_id: str, include_accepted: bool = typer.Option(False, help="also remove accepted edges"),
                 include_rejected: bool = typer.Option(False, help="also remove rejected edges (known negatives)"),
                 as_json: AsJson = False):
    """Remove exactly this run's predicted relationships. Asserted facts are never touched."""
    report = retract_run(open_configured_store(), run_id, include_accepted=include_accepted,
                         include_rejected=include_rejected)
    emit_json(report) if as_json else out.print(f"retracted {report['total_removed']} edges of {run_id}: "
                                                f"{report['removed']}")
