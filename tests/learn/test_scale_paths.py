"""What keeps a million-product graph inside memory and time: candidates scored over the relation's range only,
known-tail masks over those columns, and the text budget that sends an over-budget run graph-only."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from kgplatform.errors import KgpError
from kgplatform.learn.candidates import query_candidates
from kgplatform.learn.config import TrainConfig
from kgplatform.learn.index import KnownTails, relation_ranges
from kgplatform.pipeline.config import PipelineConfig, model_name
from kgplatform.pipeline.rundir import RunDir
from kgplatform.pipeline.stages import featurize
from kgplatform.pipeline.steps import featurize_step, run_dir_of
from tests.learn.test_ann_candidates import catalogue, random_model


def reference_top_k(model, z, snap, rel: int, heads: torch.Tensor, k: int) -> dict[int, list[int]]:
    """Every entity scored, then masked: the exhaustive definition the range-only path must match."""
    blocked = KnownTails(torch.cat([snap.triples(), snap.excluded]), snap.num_nodes, snap.num_relations)
    rels = torch.full_like(heads, rel)
    scores = model.score_tails(z, heads, rels)
    invalid = blocked.mask(heads, rels) | ~relation_ranges(snap, splits=None)[rel]
    invalid[torch.arange(len(heads)), heads] = True
    top = scores.masked_fill(invalid, float("-inf")).topk(k, dim=1)
    return {int(h): [int(t) for t, s in zip(ts, ss) if s > float("-inf")]
            for h, ts, ss in zip(heads, top.indices, top.values)}


@pytest.mark.parametrize("rel", [0, 1, 2])
def test_range_only_scoring_returns_the_exhaustive_top_k(rel):
    snap = catalogue()
    model, z = random_model(snap, "complex")
    heads = torch.arange(0, 900, 7)
    found = query_candidates(model, z, snap, rel, heads, k=10)
    expected = reference_top_k(model, z, snap, rel, heads, 10)
    got: dict[int, list[int]] = {}
    for h, t in zip(found.heads.tolist(), found.tails.tolist()):
        got.setdefault(h, []).append(t)
    assert got == {h: ts for h, ts in expected.items() if ts}
    allowed = relation_ranges(snap, splits=None)[rel]
    assert bool(allowed[torch.from_numpy(found.tails)].all())


def test_a_tiny_chunk_gives_the_same_candidates_as_one_big_chunk():
    snap = catalogue()
    model, z = random_model(snap, "distmult")
    heads = torch.arange(0, 900, 5)
    one = query_candidates(model, z, snap, 1, heads, k=5, chunk_size=4096)
    many = query_candidates(model, z, snap, 1, heads, k=5, chunk_size=3)
    assert one.heads.tolist() == many.heads.tolist() and one.tails.tolist() == many.tails.tolist()


def test_known_tail_mask_over_columns_is_the_full_mask_cut_to_them():
    snap = catalogue()
    known = KnownTails(snap.triples(), snap.num_nodes, snap.num_relations)
    heads = torch.arange(0, 60)
    rels = torch.tensor([0, 1, 2, 4] * 15)
    columns = torch.tensor([950, 3, 0, 901, 1299, 17, 42, 1100])
    full = known.mask(heads, rels)
    assert torch.equal(known.mask(heads, rels, columns), full[:, columns])
    assert bool(full.any())


def text_snapshot():
    snap = catalogue()
    texts = [f"product {i}. a red thing number {i}" for i in range(snap.num_nodes)]
    return replace(snap, node_text=texts)


def test_over_the_text_budget_the_run_goes_graph_only_and_says_why(settings, tmp_path):
    local = settings.model_copy(update={"home": tmp_path / "home"})
    snap = text_snapshot()
    stats: dict = {}
    tight = TrainConfig(text_budget_s=1e-6)
    assert featurize(snap, local, tight, stats=stats) is None
    assert "graph-only" in stats["text_off"] and stats["estimate"]["uncached"] == snap.num_nodes
    assert stats["estimate"]["texts_per_s"] > 0

    with pytest.raises(KgpError, match="learned_embeddings"):
        featurize(snap, local, TrainConfig(text_budget_s=1e-6, learned_embeddings=False))

    local = settings.model_copy(update={"home": tmp_path / "fresh"})  # the calls above cached 1,024 vectors
    cfg = PipelineConfig().model_copy(update={"train": tight})
    out = run_dir_of(local, "budget-run")
    out.write_json(RunDir.CONFIG, {"run_id": "budget-run", "model": model_name(cfg.train), **cfg.model_dump()})
    out.save_snapshot(snap)
    record = featurize_step(local, "budget-run")
    assert "graph-only" in record["features"]["text_off"]
    assert out.load_config().train.use_text is False
    assert out.read_json(RunDir.CONFIG)["model"] == model_name(out.load_config().train)
    assert out.load_tensor(RunDir.FEATURES) is None


def test_within_the_text_budget_every_node_gets_its_vector(settings, tmp_path):
    local = settings.model_copy(update={"home": tmp_path / "home"})
    snap = text_snapshot()
    stats: dict = {}
    x = featurize(snap, local, TrainConfig(text_budget_s=3600.0), stats=stats)
    assert x is not None and x.shape[0] == snap.num_nodes and "text_off" not in stats
    # the estimate's sample was kept in the cache: only the rest was encoded afterwards
    assert stats["encoded"] == snap.num_nodes - min(512, snap.num_nodes)
