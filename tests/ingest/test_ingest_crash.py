"""Fault injection on a real ingest: the store killed with SIGKILL in the middle of `kgp ingest`. The ingest's
record says it did not complete (so incremental scoring waits for it), and rerunning the same source completes
it with every relationship exactly once. The test runs a store of its own, so that it can kill it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from kgplatform.demo.catalog import generate_catalog, write_dataset
from kgplatform.graph.store import embedded_server, open_store
from kgplatform.ingest.load import ingests_in_progress, parse_source
from kgplatform.settings import Settings
from tests.support.env import free_port, run_kgp


def graph_counts(settings: Settings) -> tuple[int, int]:
    store = open_store(settings)
    try:
        entities = store.query("MATCH (n:Entity) RETURN count(n) AS n", read_only=True)[0]["n"]
        asserted = store.query("MATCH (:Entity)-[r]->(:Entity) WHERE r.predicted IS NULL RETURN count(r) AS n",
                               read_only=True)[0]["n"]
        return entities, asserted
    finally:
        store.close()


def test_a_store_killed_during_ingest_leaves_an_unfinished_record_that_a_rerun_completes(tmp_path):
    settings = Settings(KGP_STORE="falkordb", KGP_HOME=tmp_path / "home", KGP_FALKORDB_PORT=free_port(),
                        KGP_GRAPH="crash")
    server = embedded_server(settings)
    server.start()
    folder = tmp_path / "catalog"
    write_dataset(generate_catalog(seed=11, n_products=2000), folder)
    parsed = parse_source(folder)
    env = {"KGP_STORE": "falkordb", "KGP_HOME": str(settings.home), "KGP_FALKORDB_PORT": str(settings.falkordb_port),
           "KGP_GRAPH": "crash", "KGP_WRITE_BATCH_SIZE": "20"}
    try:
        proc = subprocess.Popen([sys.executable, "-m", "kgplatform.cli", "ingest", str(folder), "--json"],
                                env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 180
        while graph_counts(settings)[1] < 200:  # some relationships written, far from all of them
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the ingest never got going"
            time.sleep(0.05)
        os.kill(server._pid(), signal.SIGKILL)
        assert proc.wait(timeout=120) != 0  # the ingest fails: its store is gone
        server.start()  # the append-only file brings back what was written (up to its last second)
        entities, asserted = graph_counts(settings)
        assert asserted < len(parsed.triples)  # really half-written
        store = open_store(settings)
        [unfinished] = ingests_in_progress(store)  # the record says so: incremental scoring waits for it
        assert unfinished["status"] == "running" and unfinished["source"] == str(folder.resolve())
        store.close()

        again = run_kgp("ingest", str(folder), "--json", env=env)
        assert again.returncode == 0, again.stderr
        report = json.loads(again.stdout)
        assert graph_counts(settings) == (len(parsed.entities), len(parsed.triples))  # every one, once
        assert report["relationships_created"] == len(parsed.triples) - asserted
        store = open_store(settings)
        assert ingests_in_progress(store) == []
        store.close()
    finally:
        server.stop()
