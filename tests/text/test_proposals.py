"""Text-proposed edges in the pipeline (kgplatform/text/proposals.py): calibrated on validation proposals, scored per
shard, merged with the model's selection, written with their own method and the mention as evidence."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch

from kgplatform import textnorm
from kgplatform.demo.catalog import generate_catalog, write_dataset
from kgplatform.graph.store import open_store
from kgplatform.ingest.load import ingest_path
from kgplatform.learn.config import TrainConfig
from kgplatform.learn.per_relation import group_ids
from kgplatform.pipeline.config import PipelineConfig
from kgplatform.pipeline.rundir import RunDir, read_json
from kgplatform.pipeline.stages import node_states
from kgplatform.pipeline.steps import load_model, read_shards, run_pipeline, score_step, writeback_step
from kgplatform.snapshot import Snapshot
from kgplatform.text import proposals as tl

MENTION = re.compile(r'^text mention "(?P<span>.+?)" at (?P<start>\d+)-(?P<end>\d+)')


@pytest.fixture(scope="module")
def catalog():
    return generate_catalog(seed=3, n_products=300)


@pytest.fixture(scope="module")
def demo_run(base_settings, catalog, tmp_path_factory):
    """One pipeline run on the demo catalog through the embedded store. A 0.3 validation share gives HAS_BRAND
    enough validation text proposals (learn.per_relation.MIN_CANDIDATES) for a threshold of its own."""
    settings = base_settings.model_copy(update={"graph": "t_text_links"})
    store = open_store(settings)
    folder = tmp_path_factory.mktemp("catalog")
    write_dataset(catalog, folder)
    ingest_path(store, folder)
    cfg = PipelineConfig(train=TrainConfig(time_budget_s=8, seed=1), valid_ratio=0.3)
    yield store, settings, run_pipeline(store, settings, cfg)
    store.delete_graph()
    store.close()


@pytest.fixture(scope="module")
def trained(demo_run):
    """The run's own snapshot, model and config, read back from its run directory."""
    _, _, result = demo_run
    out = RunDir(result.run_dir)
    snapshot, cfg = out.load_snapshot(), out.load_config()
    return snapshot, load_model(out, snapshot, cfg), cfg


def edges_of(store, run_id):
    return store.query("MATCH (h)-[r]->(t) WHERE r.run_id = $run RETURN h.id AS h, type(r) AS type, t.id AS t, "
                       "properties(r) AS props ORDER BY h, type, t", {"run": run_id})


def assert_mention_in_head_text(snapshot: Snapshot, head: str, evidence: str) -> str:
    m = MENTION.match(evidence)
    assert m, evidence
    text = snapshot.node_text[snapshot.node_ids.index(head)]
    assert text[int(m["start"]):int(m["end"])] == m["span"]
    return m["span"]


# ---- the pure stages on a real snapshot ---------------------------------------------------------------------------

def test_text_links_quote_the_head_text_and_never_repropose_known_edges(trained):
    snapshot, model, cfg = trained
    calibration, report = tl.fit_text_calibration(model, snapshot, cfg)
    brand = report["per_relation"]["HAS_BRAND"]
    assert brand["candidates"] >= 50 and brand["positives"] >= 0.8 * brand["candidates"], brand
    assert brand["thresholds"]["head has none"] is not None
    z = node_states(model, snapshot)
    rows = tl.score_text_links(model, z, snapshot, calibration, cfg)
    assert rows and {r["method"] for r in rows} == {"text"}
    known = {(snapshot.node_ids[h], snapshot.rel_names[r], snapshot.node_ids[t])
             for h, r, t in snapshot.triples().tolist()}
    brands = {snapshot.node_ids[i] for i in range(snapshot.num_nodes)
              if snapshot.type_names[int(snapshot.node_type[i])] == "Brand"}
    for r in rows:
        assert (r["head"], r["rel_type"], r["tail"]) not in known
        assert r["evidence"] == r["mention"]
        span = assert_mention_in_head_text(snapshot, r["head"], r["evidence"])
        if r["rel_type"] == "HAS_BRAND":
            assert r["tail"] in brands
            tail_name = textnorm.name_of(snapshot.node_text[snapshot.node_ids.index(r["tail"])])
            assert textnorm.normalize(span) == textnorm.normalize(tail_name)
        rel = snapshot.rel_names.index(r["rel_type"])
        thresholds = [calibration.threshold(g) for g in group_ids(np.array([rel, rel]), np.array([0, 1]))]
        assert r["probability"] >= min(t for t in thresholds if t is not None) - 1e-9
    # shards split the heads exactly as score_candidates does; `heads` restricts them
    key = lambda r: (r["head"], r["rel_type"], r["tail"])  # noqa: E731
    shards = [tl.score_text_links(model, z, snapshot, calibration, cfg, shard=i, num_shards=2) for i in (0, 1)]
    assert sorted(map(key, shards[0] + shards[1])) == sorted(map(key, rows))
    one = torch.tensor([snapshot.node_ids.index(rows[0]["head"])])
    assert {key(r) for r in tl.score_text_links(model, z, snapshot, calibration, cfg, heads=one)} == \
        {key(r) for r in rows if r["head"] == rows[0]["head"]}
    # switched off, or an old run without a text calibration: nothing
    assert tl.score_text_links(model, z, snapshot, None, cfg) == []
    off = cfg.model_copy(update={"text_links": False})
    assert tl.fit_text_calibration(model, snapshot, off)[0] is None
    assert tl.score_text_links(model, z, snapshot, calibration, off) == []


def test_a_graph_without_usable_names_proposes_nothing(trained):
    snapshot, model, cfg = trained
    nameless = replace(snapshot, node_text=[str(i) for i in range(snapshot.num_nodes)])  # only digits
    calibration, report = tl.fit_text_calibration(model, nameless, cfg)
    assert calibration is None
    assert all(r["candidates"] == 0 and r["names"] == 0 for r in report["per_relation"].values())
    assert tl.score_text_links(model, node_states(model, nameless), nameless, calibration, cfg) == []


def test_merge_keeps_one_row_per_edge_and_marks_agreement():
    model = [{"head": "p1", "rel_type": "HAS_BRAND", "tail": "b1", "score": 4.0, "probability": 0.97},
             {"head": "p2", "rel_type": "IN_CATEGORY", "tail": "c1", "score": 2.0, "probability": 0.93}]
    text = [{"head": "p1", "rel_type": "HAS_BRAND", "tail": "b1", "score": 3.0, "probability": 0.91,
             "method": "text", "evidence": 'text mention "Acme" at 0-4', "mention": 'text mention "Acme" at 0-4'},
            {"head": "p3", "rel_type": "HAS_BRAND", "tail": "b2", "score": 1.0, "probability": 0.95,
             "method": "text", "evidence": 'text mention "Zen" at 5-8', "mention": 'text mention "Zen" at 5-8'}]
    merged = tl.merge_text_and_model(model, text)
    assert [(r["head"], r.get("method"), r["probability"]) for r in merged] == [
        ("p1", "text+gnn", 0.97), ("p3", "text", 0.95), ("p2", None, 0.93)]
    assert merged[0]["score"] == 4.0 and merged[0]["mention"] == 'text mention "Acme" at 0-4'
    assert "method" not in model[0]  # the inputs are left as they were
    assert tl.merge_text_and_model(model, text, max_edges=1) == merged[:1]
    assert tl.merge_text_and_model(model, []) == model
    assert tl.method_counts(merged) == {"written_per_method": {"text": 1, "text+gnn": 2}, "text_and_model_agree": 1}


# ---- end to end through the embedded store ------------------------------------------------------------------------

def test_pipeline_writes_text_edges_with_their_mention_and_rewrites_nothing(demo_run, trained, catalog):
    store, settings, result = demo_run
    snapshot = trained[0]
    edges = edges_of(store, result.run_id)
    by_method: dict[str, int] = {}
    for e in edges:
        by_method[e["props"]["method"]] = by_method.get(e["props"]["method"], 0) + 1
    assert by_method == result.counts["written_per_method"]
    assert sum(by_method.values()) == result.counts["predicted"] == len(edges)
    texty = [e for e in edges if e["props"]["evidence"].startswith("text mention")]
    # the model's combined evidence already weighs the mention, so text mostly agrees with it rather than adds edges
    assert by_method.get("text", 0) + result.counts["text_and_model_agree"] >= 1, result.counts
    assert len(texty) == by_method.get("text", 0) + result.counts["text_and_model_agree"]
    asserted = {(h, r, t) for h, r, t in catalog.triples}
    for e in texty:
        assert e["props"]["method"] in ("text", "text+gnn")
        assert_mention_in_head_text(snapshot, e["h"], e["props"]["evidence"])
        assert (e["h"], e["type"], e["t"]) not in asserted
    held_back = set(catalog.held_back)
    text_only = [e for e in edges if e["props"]["method"] == "text"]
    assert sum((e["h"], e["type"], e["t"]) in held_back for e in text_only) >= 0.8 * len(text_only)
    cal = read_json(result.run_dir / "calibration.json")
    assert cal["text_links"]["per_relation"]["HAS_BRAND"]["thresholds"]["head has none"] is not None
    assert read_json(result.run_dir / RunDir.CALIBRATORS)["text"] is not None
    # a second write-back of the same run changes nothing
    writeback_step(store, settings, result.run_id)
    assert edges_of(store, result.run_id) == edges


def test_a_run_without_text_calibration_still_scores(demo_run, trained):
    _, settings, result = demo_run
    old = settings.runs_dir / f"{result.run_id}-old"
    shutil.copytree(result.run_dir, old)
    calibrators = read_json(old / RunDir.CALIBRATORS)
    RunDir(old).write_json(RunDir.CALIBRATORS, {**calibrators, "text": None})  # as a run without text proposals
    (old / "scores").joinpath("shard-000-of-001.jsonl").unlink()
    summary = score_step(settings, old.name)
    rows = read_shards(RunDir(old), 1)[0]
    assert summary["text_links"] == 0 and len(rows) == summary["selected"]
    assert all("method" not in r and "mention" not in r for r in rows)
