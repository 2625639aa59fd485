"""Fine-tuning the text encoder as a Celery job on a real worker process (the gpu queue; CPU here): submitted with
`kgp jobs submit finetune-text`, one task, the encoder saved as a content-addressed artefact, the graph untouched
and never locked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from kgplatform.demo.catalog import generate_catalog, write_dataset
from kgplatform.graph.store import open_store
from kgplatform.ingest.load import ingest_path
from kgplatform.pipeline.finetune_step import RECORD
from kgplatform.text.embeddings import model_fingerprint
from tests.support.brokers import client_settings, ended, wait_for
from workers import jobs


def graph_state(store) -> list:
    return sorted((r["h"], r["type"], r["t"]) for r in store.query(
        "MATCH (h)-[r]->(t) RETURN h.id AS h, type(r) AS type, t.id AS t", read_only=True))


def test_a_finetune_job_saves_an_encoder_and_leaves_the_graph_as_it_was(worker_env, settings, tmp_path):
    env, worker = worker_env
    client = client_settings({**env, "KGP_GRAPH": settings.graph})
    store = open_store(settings)
    write_dataset(generate_catalog(seed=4, n_products=30), tmp_path / "catalog")
    ingest_path(store, tmp_path / "catalog")
    before = graph_state(store)

    submitted = subprocess.run(
        [sys.executable, "-m", "kgplatform.cli", "jobs", "submit", "finetune-text", "--time-budget", "4",
         "--batch-size", "8", "--max-seq-length", "32", "--graph", settings.graph, "--json"],
        env=env, capture_output=True, text=True, timeout=120)
    assert submitted.returncode == 0, submitted.stderr
    job_id = json.loads(submitted.stdout)["job_id"]
    assert jobs.lock_holder(client, settings.graph) is None  # it reads the graph only: pipelines may still run

    status, _ = wait_for(client, job_id, ended, timeout=240)
    assert status["state"] == "SUCCESS", (status, worker.tail())
    assert status["kind"] == "finetune" and status["steps"] == [{"step": "finetune", "state": "SUCCESS"}]
    result = status["result"]
    folder = Path(result["encoder"])
    assert folder.parent == settings.home / "encoders" and folder.name.startswith("ft-")
    assert model_fingerprint(str(folder)) == result["fingerprint"]  # the weights are what the name says
    saved = json.loads((folder / RECORD).read_text())
    assert saved["steps"] == result["steps"] > 0 and saved["base_encoder"] != str(folder)
    assert set(result["valid"]) == {"before", "after"} and 0 < result["valid"]["after"]["mrr"] <= 1
    assert graph_state(store) == before
    assert job_id in [j["job_id"] for j in jobs.list_jobs(client) if j["kind"] == "finetune"]


def test_a_discover_job_holds_the_graph_writes_its_proposals_and_frees_the_graph(worker_env, settings):
    from kgplatform.graph.runs import show_run
    from kgplatform.ingest.load import load_graph
    from kgplatform.pipeline.discover_step import DiscoverConfig
    from kgplatform.text.ner import TaggerConfig
    from tests.pipeline.test_discover_step import parsed
    from tests.text.test_ner import BRANDS

    env, worker = worker_env
    client = client_settings({**env, "KGP_GRAPH": settings.graph})
    store = open_store(settings)
    load_graph(store, parsed(BRANDS[:4], BRANDS[8:]))
    before = graph_state(store)
    cfg = DiscoverConfig(tagger=TaggerConfig(time_budget_s=8, batch_size=16, max_seq_length=24, lr=1e-4,
                                             eval_every_s=4), min_heads=1)
    record = jobs.submit_discover(client, cfg, graph=settings.graph)
    job_id = record["job_id"]
    assert jobs.lock_holder(client, settings.graph) == job_id  # it writes the graph: one job at a time

    status, _ = wait_for(client, job_id, ended, timeout=240)
    assert status["state"] == "SUCCESS", (status, worker.tail())
    assert status["steps"] == [{"step": "discover", "state": "SUCCESS"}]
    assert jobs.lock_holder(client, settings.graph) is None
    result = status["result"]
    assert result["run_id"] == job_id and show_run(store, job_id)["status"] == "completed"
    proposed = store.query("MATCH (n:Entity) WHERE n.run_id = $run RETURN n.id AS id", {"run": job_id})
    assert sorted(r["id"] for r in proposed) == sorted(p["id"] for p in result["proposals"])
    asserted_now = [row for row in graph_state(store) if not row[2].startswith("brand:proposed:")]
    assert asserted_now == before  # only the proposals' own links were added
