"""`kgp bench recommend-scale` at a tiny size through the real CLI, and its synthetic catalog."""

from __future__ import annotations

import json
from collections import Counter

from kgplatform.bench.recscale import ScaleSpec, generate_rec_folder
from kgplatform.ingest.reclayout import parse_rec_layout
from tests.support.env import run_kgp

STAGES = ("generate", "ingest", "export", "featurize", "train", "score", "writeback")


def test_recommend_scale_times_every_stage_and_writes_recommendations(tmp_path, cli_env, settings, store):
    out_file = tmp_path / "results" / "recommend-scale.json"
    done = run_kgp("bench", "recommend-scale", "--users", "300", "--items", "120", "--interactions", "3000",
                   "--kg-triples", "2000", "--time-budget", "5", "--graph", settings.graph, "--keep-graph",
                   "--out", str(out_file), "--json", env=cli_env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out_file.read_text())
    assert json.loads(done.stdout) == report
    assert {"spec", "stages", "timings_s", "pipeline_s", "ingest_and_pipeline_s", "target_s", "fits_target",
            "peak_rss_mb", "recall@20", "ndcg@20", "popularity", "counts", "catalog", "config", "machine",
            "code"} <= set(report)
    assert tuple(report["stages"]) == STAGES
    for name in STAGES:
        stage = report["stages"][name]
        assert stage["seconds"] >= 0 and stage["self_peak_mb"] > 0, (name, stage)
        assert stage["store_peak_mb"] > 0, (name, stage)  # the embedded server's pid was found
    assert report["pipeline_s"] <= report["ingest_and_pipeline_s"] <= report["total_s"]
    peak = report["peak_rss_mb"]
    assert peak["self"] > 0 and peak["self_ru_maxrss_mb"] >= 0.95 * peak["self"]  # the kernel's counts are approximate
    assert report["peak_rss_mb"]["store_vmhwm_mb"] > 0
    assert 0.0 <= report["recall@20"] <= 1.0 and 0.0 <= report["popularity"]["recall@20"] <= 1.0
    assert report["config"]["train"]["batch_size"] == 65536 and report["config"]["train"]["use_text"] is False
    assert report["config"]["train"]["time_budget_s"] == 5
    counts = report["counts"]
    assert counts["users"] == 300 and counts["items"] == 120 and counts["interactions"] == 3000
    assert counts["kg_triples"] == 2000
    assert counts["recommendations"] == 300 * 20 == counts["recommendations_in_graph"]
    assert report["stages"]["writeback"]["written"] == counts["recommendations"]
    written = store.query("MATCH (:User)-[r:RECOMMENDED]->(:Entity) WHERE r.run_id = $run_id RETURN count(r) AS n",
                          {"run_id": report["run_id"]}, read_only=True)[0]["n"]
    assert written == 6000
    assert not (settings.runs_dir / report["run_id"]).exists()  # removed without --keep-run
    table = out_file.with_suffix(".md").read_text()
    assert "| train |" in table and "| writeback |" in table and "ingest → write-back" in table


def test_catalog_is_seeded_exact_and_skewed(tmp_path):
    spec = ScaleSpec(users=400, items=200, interactions=5000, kg_triples=3000, seed=3)
    stats = generate_rec_folder(tmp_path / "a", spec)
    generate_rec_folder(tmp_path / "b", spec)
    for name in ("entities.tsv", "items.tsv", "kg.tsv", "interactions_train.tsv", "interactions_test.tsv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    layout = parse_rec_layout(tmp_path / "a")  # the shared layout, every row valid
    assert len(layout.graph.triples) == stats["kg_triples"] == 3000
    assert len(layout.behaviour) == sum(stats["interactions"].values()) == 5000
    assert {"Author", "Publisher", "Genre", "Subject"} <= {e.type for e in layout.graph.entities}
    items = [e for e in layout.graph.entities if e.type == "Product"]
    assert len(items) == 200 and all(e.name and e.description for e in items)
    per_user: dict[str, Counter] = {}
    for row in layout.behaviour:
        per_user.setdefault(row.user, Counter())[row.split] += 1
    assert len(per_user) == 400
    assert all(c["valid"] >= 1 and c["test"] >= 1 and c["train"] >= 1 for c in per_user.values())
    popularity = sorted(Counter(r.item for r in layout.behaviour).values(), reverse=True)
    assert sum(popularity[:20]) > 0.25 * 5000  # a tenth of the items take over a quarter of the interactions
