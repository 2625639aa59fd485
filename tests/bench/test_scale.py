"""The synthetic scale catalogue (pure) and the store I/O benchmark against a raw client loop (real FalkorDB)."""

from collections import Counter

import numpy as np

from kgplatform.bench.scale import PIPELINE_STAGES, STAGES, render_scale_markdown
from kgplatform.bench.storeio import measure_store_io
from kgplatform.demo.scale import RELATIONS, generate_scale_catalog, write_scale_dataset
from kgplatform.graph.store import open_store


def test_the_catalogue_has_the_size_asked_for_skewed_degrees_and_held_out_links():
    catalog = generate_scale_catalog(20_000, seed=3)
    # about the size asked for: never more; repeated links of a small catalogue are dropped, not redrawn
    assert 0.9 * 20_000 <= catalog.num_edges <= 20_000 and catalog.num_products == 2_000
    assert catalog.num_edges == generate_scale_catalog(20_000, seed=3).num_edges  # seeded
    triples = set(zip(catalog.head.tolist(), catalog.rel.tolist(), catalog.tail.tolist()))
    assert len(triples) == catalog.num_edges and not (catalog.head == catalog.tail).any()
    per_product = Counter(catalog.head[catalog.rel == RELATIONS.index("HAS_BRAND")].tolist())
    assert set(per_product.values()) == {1} and len(per_product) == catalog.num_products
    links = np.isin(catalog.rel, [RELATIONS.index("BOUGHT_TOGETHER"), RELATIONS.index("ALSO_VIEWED")])
    in_degree = np.bincount(catalog.tail[links], minlength=catalog.num_products)
    assert in_degree.max() > 10 * max(1.0, float(np.median(in_degree)))  # hubs and a long tail
    held = np.bincount(catalog.split, minlength=3)
    assert held[1] == held[2] == round(0.01 * catalog.num_edges)  # 1 % each
    brands = catalog.head[catalog.rel == 0], catalog.tail[catalog.rel == 0] - catalog.num_products
    named = sum(catalog.brand_name[b] in catalog.product_title[p] for p, b in zip(*(x.tolist() for x in brands)))
    assert named == catalog.num_products  # every title names its brand


def test_store_io_is_measured_beside_a_raw_loop_and_leaves_only_the_catalogue(settings, tmp_path):
    counts = write_scale_dataset(generate_scale_catalog(3_000, seed=1), tmp_path / "scale")

    def open_graph(name):
        store = open_store(settings, graph=name)
        store.delete_graph()
        return open_store(settings, graph=name)

    result = measure_store_io(settings, open_graph, tmp_path / "scale", batch_size=500, page_size=200,
                              writeback_count=300)
    for stage in ("ingest", "export", "writeback"):
        platform, raw = result[stage]["platform"], result[stage]["raw"]
        assert platform["items"] == raw["items"] > 0 and platform["per_s"] > 0 and raw["per_s"] > 0
        assert result[stage]["ratio"] == round(platform["per_s"] / raw["per_s"], 3)
    assert result["export"]["platform"]["items"] == counts["relationships"]
    store = open_store(settings, graph=result["graph"])
    try:  # the write-back measurement's edges are gone; the raw loop's graph too
        assert store.query("MATCH ()-[r]->() WHERE r.run_id STARTS WITH 'bench-io' RETURN count(r) AS n")[0]["n"] == 0
        assert store.query("MATCH ()-[r]->() RETURN count(r) AS n")[0]["n"] == counts["relationships"]
        assert f"{settings.graph}_io_raw" not in store.graphs()
    finally:
        store.delete_graph()
        store.close()


def scale_result(**extra) -> dict:
    stage = {"wall_s": 10.0, "peak_rss_gb": 1.0, "store_rss_gb": 0.5}
    io = {"platform": {"per_s": 900.0}, "raw": {"per_s": 1000.0}, "ratio": 0.9}
    return {"products": 1000, "wall_s": 130.0, "peak_rss_gb": 1.0, "store_peak_rss_gb": 0.5,
            "stages": {name: dict(stage) for name in STAGES}, "test_mrr": 0.25, "test_hits@10": 0.4,
            "io_ratio": {"ingest": 0.9, "export": 0.9, "writeback": 0.9},
            "io": {"ingest": io, "export": io, "writeback": io}, "written": 12, "use_text": True,
            "train_budget_s": 60.0, **extra}


def test_the_scale_table_counts_only_the_users_stages_and_says_what_was_sampled_or_skipped():
    sharded = scale_result(text_off="encoding 1,000 texts would take about 900 s: graph-only", use_text=False,
                           score_shards=20, samples={"valid_triples": 2000, "test_triples": 5000,
                                                     "calibration_queries": 20000}, dim=100)
    md = render_scale_markdown({"sizes": {"10000": sharded, "1000": scale_result()}})
    rows = [line for line in md.splitlines() if line.startswith("| 1")]
    assert rows[0].startswith("| 1,000 |") and rows[1].startswith("| 10,000 |")  # by size
    assert f"| 130 | {10 * len(PIPELINE_STAGES)} |" in rows[0]  # pipeline s: the user's stages only
    assert "| on | all heads |" in rows[0] and "| off (budget) | shard 1 of 20 |" in rows[1]
    assert "Text: encoding 1,000 texts would take about 900 s: graph-only." in md
    assert "test 5,000 triples, calibration 20,000 queries" in md and "dim 100" in md
