"""Fault injection on a real in-process run: the pipeline's process, or its store, killed with SIGKILL during
write-back. The run must not stay 'running' forever, its partial edges must be retractable, and asserted facts
must be untouched. Each test runs its own embedded store (its own KGP_HOME and port) so that it can kill it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from kgplatform.demo.catalog import generate_catalog, write_dataset
from kgplatform.graph.store import embedded_server, open_store
from kgplatform.ingest.load import ingest_path
from kgplatform.settings import Settings
from tests.support.env import free_port, run_kgp


@pytest.fixture
def own_store(tmp_path):
    """A store of this test's own, loaded with a small catalog; yields (settings, env)."""
    settings = Settings(KGP_STORE="falkordb", KGP_HOME=tmp_path / "home", KGP_FALKORDB_PORT=free_port(),
                        KGP_GRAPH="crash")
    server = embedded_server(settings)
    server.start()
    folder = tmp_path / "catalog"
    write_dataset(generate_catalog(seed=5, n_products=160), folder)
    store = open_store(settings)
    ingest_path(store, folder)
    store.close()
    env = {"KGP_STORE": "falkordb", "KGP_HOME": str(settings.home), "KGP_FALKORDB_PORT": str(settings.falkordb_port),
           "KGP_GRAPH": "crash", "KGP_WRITE_BATCH_SIZE": "1", "KGP_WRITE_PAUSE_S": "0.3"}
    yield settings, env
    server.stop()


def counts(settings: Settings) -> tuple[int, int]:
    """(asserted relationships, predicted relationships) in the store."""
    store = open_store(settings)
    try:
        asserted = store.query("MATCH ()-[r]->() WHERE r.predicted IS NULL RETURN count(r) AS n")[0]["n"]
        predicted = store.query("MATCH ()-[r]->() WHERE r.predicted = true RETURN count(r) AS n")[0]["n"]
        return asserted, predicted
    finally:
        store.close()


def start_pipeline(env: dict) -> subprocess.Popen:
    # Text on: the catalog's titles name brands and categories, so the run always has edges to write.
    return subprocess.Popen([sys.executable, "-m", "kgplatform.cli", "pipeline", "--time-budget", "10",
                             "--target-precision", "0.5", "--json"], env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def wait_for_partial_writeback(settings: Settings, proc: subprocess.Popen, timeout: float = 240) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        predicted = counts(settings)[1]
        if predicted >= 2:
            return predicted
        time.sleep(0.2)
    raise AssertionError("write-back never started")


def runs(env: dict) -> list[dict]:
    done = run_kgp("runs", "list", "--json", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_run_whose_process_is_killed_during_writeback_is_marked_failed_and_retractable(own_store):
    settings, env = own_store
    asserted_before = counts(settings)[0]
    proc = start_pipeline(env)
    wait_for_partial_writeback(settings, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    [run] = runs(env)  # listing reconciles: the owner is gone
    assert run["status"] == "failed", run
    retracted = run_kgp("runs", "retract", run["run_id"], "--json", env=env)
    assert retracted.returncode == 0 and json.loads(retracted.stdout)["total_removed"] > 0
    assert counts(settings) == (asserted_before, 0)


def test_a_run_whose_store_is_killed_during_writeback_is_marked_failed_after_restart(own_store):
    settings, env = own_store
    asserted_before = counts(settings)[0]
    server = embedded_server(settings)
    proc = start_pipeline(env)
    wait_for_partial_writeback(settings, proc)
    os.kill(server._pid(), signal.SIGKILL)  # the store dies mid write-back; the run cannot even mark itself
    assert proc.wait(timeout=120) != 0
    server.start()  # the append-only file brings back what was written
    [run] = runs(env)
    assert run["status"] == "failed", run
    assert run_kgp("runs", "retract", run["run_id"], env=env).returncode == 0
    assert counts(settings) == (asserted_before, 0)
