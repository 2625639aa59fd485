"""`kgp demo`: generate a product catalogue, load it, complete it end to end."""

from __future__ import annotations

import typer

from kgplatform.cli.common import AsJson, console, emit_json, out, settings


def demo(time_budget: float = typer.Option(90.0, help="training wall-clock budget in seconds"),
         as_json: AsJson = False):
    """Generate a product catalog, load it into the embedded store, train, and write predictions."""
    from kgplatform.demo.run import run_demo  # torch and the model: only when the demo runs

    report = run_demo(settings(), time_budget=time_budget, console=out, progress_console=console, quiet=as_json)
    if as_json:
        emit_json(report)
