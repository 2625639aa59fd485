"""`kgp score-new` (one incremental tick) and `kgp watch` (ticks on an interval): logic in incremental/steps.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import typer

from kgplatform.cli.common import AsJson, console, out, settings
from kgplatform.graph.store import open_store


def _store_and_settings():
    configured = settings()
    return open_store(configured), configured


def describe(result: dict) -> str:
    if result["status"] == "no-model":
        return result["message"]
    window = result["window"]
    waiting = "".join(f"\nwaiting for ingest {i['id']} ({i['status']}: {i['source'] or 'in memory'}) to complete; "
                      "rerun it if it stopped" for i in result.get("waiting_for_ingests", []))
    if result["status"] == "idle":
        return f"nothing changed since {window['since']} (base run {result['base_run']})" + waiting
    written = sum(result["written_per_type"].values())
    line = (f"{result['run_id']}: {result['changed']} changed nodes ({result['new_nodes']} new) -> "
            f"{written} predicted edges {result['written_per_type']} in {sum(result['timings_s'].values()):.2f} s")
    drift = result.get("drift") or {}
    if drift.get("retrain"):
        line += "\nretraining advised: " + "; ".join(drift["reasons"])
    return line + waiting


def score_new(as_json: AsJson = False,
              no_drift: bool = typer.Option(False, "--no-drift", help="skip the drift guard's counts")):
    """Score the nodes created or changed since the watermark with the newest trained model, once."""
    from kgplatform.incremental.steps import score_new as tick

    store, settings = _store_and_settings()
    try:
        result = tick(store, settings, check_drift=not no_drift)
    finally:
        store.close()
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2, default=str) + "\n")
    else:
        out.print(describe(result), markup=False, highlight=False)


def watch(interval: float = typer.Option(5.0, min=0.05, help="seconds between ticks"),
          retrain: bool = typer.Option(True, help="when the drift guard says so, start `kgp pipeline` in the "
                                       "background (one at a time); the next ticks use its model once it completes"),
          ticks: int = typer.Option(0, min=0, help="stop after this many ticks (0: run until interrupted)"),
          as_json: bool = typer.Option(False, "--json", help="one JSON line per tick that scored something")):
    """Watch the embedded store: every INTERVAL seconds, give new and changed nodes their predicted links."""
    from kgplatform.incremental.steps import BaseCache
    from kgplatform.incremental.steps import score_new as tick

    store, settings = _store_and_settings()
    cache = BaseCache()
    retraining: subprocess.Popen | None = None
    retrained_for: set[str] = set()
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    console.print(f"watching graph {store.graph_name!r} ({store.backend}) every {interval:g} s; Ctrl-C stops")
    done = 0
    try:
        while not stopping and (ticks == 0 or done < ticks):
            started = time.monotonic()
            result = tick(store, settings, cache)
            done += 1
            if result["status"] == "scored":
                if as_json:
                    sys.stdout.write(json.dumps(result, default=str) + "\n")
                    sys.stdout.flush()
                else:
                    out.print(describe(result), markup=False, highlight=False)
                drift = result.get("drift") or {}
                if retrain and drift.get("retrain") and result["base_run"] not in retrained_for and \
                        (retraining is None or retraining.poll() is not None):
                    retrained_for.add(result["base_run"])
                    console.print("starting `kgp pipeline` in the background: " + "; ".join(drift["reasons"]),
                              markup=False)
                    retraining = subprocess.Popen([sys.executable, "-m", "kgplatform.cli", "pipeline"],
                                                  env=os.environ.copy(), stdout=subprocess.DEVNULL)
            elif result["status"] == "no-model" and done == 1:
                console.print(result["message"], markup=False)
            time.sleep(max(0.0, interval - (time.monotonic() - started)))
    except KeyboardInterrupt:
        pass
    finally:
        store.close()
        if retraining is not None and retraining.poll() is None:
            console.print(f"the background retraining (pid {retraining.pid}) goes on; `kgp runs list` shows it")
