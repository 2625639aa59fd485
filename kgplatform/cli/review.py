"""`kgp review accept|reject|list|log`: review predicted edges from the command line (logic in review/actions.py)."""

from __future__ import annotations

import getpass
import os
from typing import Optional

import typer
from rich.table import Table

from kgplatform.cli.common import AsJson, emit_json, open_configured_store, out
from kgplatform.review.actions import Selector, list_proposed, review_edges, review_log

review_app = typer.Typer(help="Review predicted edges: accept, reject, list, audit log.", no_args_is_help=True)


def default_reviewer() -> str:
    try:
        return os.environ.get("USER") or getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return ""


def _review(action: str, head, rel_type, tail, run_id, min_probability, max_probability, by, dry_run,
            as_json) -> None:

    selector = Selector(head=head, rel_type=rel_type, tail=tail, run_id=run_id, min_probability=min_probability,
                        max_probability=max_probability)
    report = review_edges(open_configured_store(), selector, action, by or default_reviewer(), dry_run=dry_run)
    if as_json:
        emit_json(report)
        return
    verb = "would change" if dry_run else "changed"
    shown = [e for e in report["edges"] if e["changed"] or dry_run]
    if shown:
        table = Table("head", "rel_type", "tail", "run_id", "probability", "from", "to")
        for e in shown:
            table.add_row(e["head"], e["rel_type"], e["tail"], e["run_id"], f"{e['probability']:.3f}",
                          e["previous_status"], report["status"])
        out.print(table)
    out.print(f"{action} by {report['by']}: {report['matched']} predicted edges matched, {report['changed']} "
              f"{verb} to {report['status']}, {report['unchanged']} already {report['status']}"
              + (f", {report['conflicts']} changed meanwhile by someone else (left alone)" if report["conflicts"]
                 else "")
              + (" (dry run: nothing written)" if dry_run else ""), markup=False)


def _command(action: str):
    def command(head: Optional[str] = typer.Option(None, "--head", help="the edge's head id"),
                rel_type: Optional[str] = typer.Option(None, "--rel-type", "--rel",
                                                       help="relationship type, e.g. HAS_BRAND"),
                tail: Optional[str] = typer.Option(None, "--tail", help="the edge's tail id"),
                run_id: Optional[str] = typer.Option(None, "--run", help="only this run's edges"),
                min_probability: Optional[float] = typer.Option(None, "--min-probability",
                                                                help="probability at least this (inclusive)"),
                max_probability: Optional[float] = typer.Option(None, "--max-probability",
                                                                help="probability at most this (inclusive)"),
                by: str = typer.Option("", "--by", help="reviewer name (default $USER)"),
                dry_run: bool = typer.Option(False, "--dry-run", help="print what would change; write nothing"),
                as_json: AsJson = False):
        _review(action, head, rel_type, tail, run_id, min_probability, max_probability, by, dry_run, as_json)

    status = {"accept": "accepted", "reject": "rejected"}[action]
    command.__doc__ = (f"Mark the selected predicted edges {status}. Filters combine (AND); give at least one. "
                       f"Asserted facts never match; edges already {status} are left alone.")
    return command


review_app.command("accept")(_command("accept"))
review_app.command("reject")(_command("reject"))


@review_app.command("list")
def review_list(rel_type: Optional[str] = typer.Option(None, "--rel-type", "--rel", help="only this type"),
                run_id: Optional[str] = typer.Option(None, "--run", help="only this run's edges"),
                min_probability: float = typer.Option(0.0, "--min-probability"),
                limit: int = typer.Option(50, "--limit"),
                as_json: AsJson = False):
    """Proposed edges awaiting review, most probable first."""

    rows = list_proposed(open_configured_store(), rel_type=rel_type, run_id=run_id, min_probability=min_probability,
                         limit=limit)
    if as_json:
        emit_json(rows)
        return
    table = Table("head", "rel_type", "tail", "probability", "run_id", "head name", "tail name")
    for r in rows:
        table.add_row(r["head"], r["rel_type"], r["tail"], f"{r['probability']:.3f}", r["run_id"],
                      r["head_name"] or "", r["tail_name"] or "")
    out.print(table)


@review_app.command("log")
def review_log_cmd(run_id: Optional[str] = typer.Option(None, "--run", help="only reviews of this run's edges"),
                   limit: int = typer.Option(1000, "--limit"),
                   as_json: AsJson = False):
    """The review audit trail, newest first: who changed which edge, when, and from which status."""

    rows = review_log(open_configured_store(), run_id=run_id, limit=limit)
    if as_json:
        emit_json(rows)
        return
    table = Table("at (epoch ms)", "by", "action", "head", "rel_type", "tail", "run_id", "from", "to")
    for r in rows:
        table.add_row(str(r["at"]), r["by"], r["action"], r["head"], r["rel_type"], r["tail"], r["run_id"],
                      r["previous_status"], r["status"])
    out.print(table)
