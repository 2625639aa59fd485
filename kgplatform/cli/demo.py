"""`kgp demo`: generate a product catalogue, load it, complete it end to end, then recommend from it."""

from __future__ import annotations

import typer

from kgplatform.cli.common import AsJson, console, emit_json, out, settings


def demo(time_budget: float = typer.Option(90.0, help="the link predictor's training budget in seconds; the "
                                                       "recommender gets a quarter of it"),
         as_json: AsJson = False):
    """Generate a product catalog, load it into the embedded store, train, and write predictions; then generate people
    who buy from it, and write and show their recommendations."""
    from kgplatform.demo.run import run_demo  # torch and the model: only when the demo runs

    report = run_demo(settings(), time_budget=time_budget, console=out, progress_console=console, quiet=as_json)
    if as_json:
        emit_json(report)
