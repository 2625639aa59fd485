"""A recommendation run as a Celery job on a real worker process and the real Redis broker: submitted with
`kgp jobs submit recommend`, scoring sharded by users, written back, rerun, retracted."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict

import pytest

from kgplatform.errors import JobError
from kgplatform.graph.runs import show_run
from kgplatform.graph.store import open_store
from kgplatform.ingest.load import ingest_rec_layout
from kgplatform.pipeline.config import PipelineConfig
from kgplatform.pipeline.recsteps import METHOD
from kgplatform.pipeline.rundir import RunDir
from tests.support.brokers import client_settings, ended, wait_for
from tests.support.recfolders import write_rec_folder
from workers import jobs

USERS, ITEMS, TOP_N, SHARDS = 7, 8, 3, 2


def rec_files() -> dict[str, list[str]]:
    """USERS people, each with 4 of ITEMS products (2 train, 1 valid, 1 test), so that each has ITEMS - 4 > TOP_N
    unseen ones; products have a brand and a category."""
    brands, categories = ["brand:acme", "brand:zeta"], ["category:cards", "category:tins"]
    items = [f"product:P{i}" for i in range(ITEMS)]
    interactions = {split: [] for split in ("train", "valid", "test")}
    for u in range(USERS):
        for offset, split in enumerate(("train", "train", "valid", "test")):
            interactions[split].append(f"user:U{u}\t{items[(u + offset) % ITEMS]}\t{1 + (u + offset) % 5}\t"
                                       f"{1500000000 + 86400 * (10 * u + offset)}")
    return {
        "entities.tsv": [f"{b}\t{b.split(':')[1].title()}\t\tBrand\t" for b in brands]
        + [f"{c}\t{c.split(':')[1].title()}\t\tCategory\t" for c in categories]
        + [f"{p}\tGift card {p[-2:]}\tasin:{p[-2:]}\tProduct\t" for p in items],
        "items.tsv": [f"{p}\t{p}\tGift card {p[-2:]}\tasin:{p[-2:]}\tA {'metal tin' if i % 2 else 'plastic'} card"
                      for i, p in enumerate(items)],
        "relations.tsv": ["HAS_BRAND\thas brand", "IN_CATEGORY\tin category"],
        "kg.tsv": [f"{p}\tHAS_BRAND\t{brands[i % 2]}" for i, p in enumerate(items)]
        + [f"{p}\tIN_CATEGORY\t{categories[i * 2 // ITEMS]}" for i, p in enumerate(items)],
        **{f"interactions_{split}.tsv": rows for split, rows in interactions.items()},
    }


def asserted(store) -> list[tuple]:
    """Every asserted relationship (behaviour included) with its properties, and every node: what no run touches."""
    rels = store.query("MATCH (a)-[r]->(b) WHERE r.predicted IS NULL "
                       "RETURN a.id AS a, type(r) AS type, b.id AS b, properties(r) AS props", read_only=True)
    nodes = store.query("MATCH (n) WHERE n.id IS NOT NULL AND NOT n:KgpRun RETURN n.id AS id, labels(n) AS labels",
                        read_only=True)
    return sorted((r["a"], r["type"], r["b"], json.dumps(r["props"], sort_keys=True)) for r in rels) + \
        sorted((n["id"], json.dumps(sorted(n["labels"]))) for n in nodes)


def recommended(store, run_id: str) -> list[dict]:
    return store.query(
        "MATCH (u:User)-[r:RECOMMENDED]->(i) WHERE r.run_id = $run RETURN u.id AS user, i.id AS item, r.rank AS rank, "
        "r.score AS score, r.model AS model, r.method AS method, r.evidence AS evidence, r.created_at AS created_at, "
        "r.predicted AS predicted ORDER BY user, rank", {"run": run_id}, read_only=True)


def kgp(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kgplatform.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def test_recommendation_job_scores_in_user_shards_writes_back_reruns_and_retracts(worker_env, settings, tmp_path):
    env, worker = worker_env
    client = client_settings({**env, "KGP_GRAPH": settings.graph})
    store = open_store(settings)
    ingest_rec_layout(store, write_rec_folder(tmp_path / "rec", rec_files()))
    users = sorted(r["id"] for r in store.query("MATCH (u:User) RETURN u.id AS id", read_only=True))
    assert len(users) == USERS
    history = defaultdict(set)
    for r in store.query("MATCH (u:User)-[:INTERACTED]->(i) RETURN u.id AS u, i.id AS i", read_only=True):
        history[r["u"]].add(r["i"])
    before = asserted(store)

    # Submitted through the CLI, onto a graph named by --graph (the worker's KGP_GRAPH is another one).
    submitted = kgp({**env}, "jobs", "submit", "recommend", "--time-budget", "5", "--top-n", str(TOP_N),
                    "--shards", str(SHARDS), "--graph", settings.graph, "--json")
    assert submitted.returncode == 0, submitted.stderr
    record = json.loads(submitted.stdout)
    job_id = record["job_id"]
    assert record == {"job_id": job_id, "run_id": job_id, "kind": "recommend", "graph": settings.graph,
                      "num_shards": SHARDS}
    # One job per graph, whatever its kind: the recommendation job holds the graph's lock until it ends.
    with pytest.raises(JobError, match=f"already has a recommend job running: {job_id}"):
        jobs.submit_pipeline(client, PipelineConfig(), graph=settings.graph)

    status, _ = wait_for(client, job_id, ended, timeout=150)
    assert status["state"] == "SUCCESS", (status, worker.tail())
    assert status["kind"] == "recommend" and status["num_shards"] == SHARDS
    assert status["steps"] == [{"step": s, "state": "SUCCESS"} for s in jobs.STEPS]
    assert jobs.lock_holder(client, settings.graph) is None  # the graph is free again
    # Every shard ran as a task of its own (users split by index), and write-back merged them.
    run_dir = RunDir.of(settings.runs_dir, job_id)
    shard_users = [{json.loads(line)["user"] for line in run_dir.shard_file(i, SHARDS).read_text().splitlines()}
                   for i in range(SHARDS)]
    assert all(shard_users) and set.union(*shard_users) == set(users) and not set.intersection(*shard_users)

    # Every user has this run's recommendations, ranked 1..N, none of them an item the user already had.
    recs = recommended(store, job_id)
    by_user = defaultdict(list)
    for r in recs:
        by_user[r["user"]].append(r)
        assert r["item"] not in history[r["user"]], r
        assert r["predicted"] is True and r["method"] == METHOD and r["model"].startswith("kgp-rec-"), r
    assert sorted(by_user) == users
    assert all([r["rank"] for r in rows] == list(range(1, TOP_N + 1)) for rows in by_user.values()), by_user
    assert all(rows[0]["score"] >= rows[-1]["score"] for rows in by_user.values())
    assert status["result"]["written"]["written"] == len(recs) == USERS * TOP_N
    run = show_run(store, job_id)
    assert (run["status"], run["method"]) == ("completed", METHOD)
    assert run["counts"]["recommendations"] == len(recs)
    assert asserted(store) == before  # behaviour and the item graph untouched

    # `kgp jobs status` shows the recommendation job's steps and what it wrote.
    shown = kgp({**env, "KGP_GRAPH": settings.graph}, "jobs", "status", job_id)
    assert shown.returncode == 0, shown.stderr
    assert f"recommend job {job_id}" in shown.stdout and f"wrote {len(recs)} recommendations" in shown.stdout
    assert job_id in [j["job_id"] for j in jobs.list_jobs(client) if j["kind"] == "recommend"]

    # The write-back task again, as a redelivery would run it: the same graph, edge for edge (created_at too).
    again = jobs.celery_app(client).send_task(
        "workers.tasks.rec_writeback", kwargs={"job_id": job_id, "graph": settings.graph, "num_shards": SHARDS})
    assert again.get(timeout=60)["written"]["written"] == len(recs)
    again.forget()
    assert recommended(store, job_id) == recs
    assert show_run(store, job_id)["status"] == "completed"
    assert asserted(store) == before

    # Retracting the run removes exactly its recommendations; behaviour stays as it was.
    retracted = kgp({**env, "KGP_GRAPH": settings.graph}, "runs", "retract", job_id, "--json")
    assert retracted.returncode == 0, retracted.stderr
    assert json.loads(retracted.stdout)["total_removed"] == len(recs)
    assert recommended(store, job_id) == []
    assert show_run(store, job_id)["status"] == "retracted"
    assert asserted(store) == before
    store.delete_graph()
    store.close()
