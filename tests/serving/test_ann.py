"""The serving item index: exact scoring against brute force, incremental adds, k beyond the index, the recall
measure, choose_index's choice both ways, and searches running while items are added."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from kgplatform.serving.ann import (
    ExactIndex,
    FaissHNSWIndex,
    UsearchHNSWIndex,
    build_index,
    choose_index,
    recall_at_k,
)

DIM = 16


def item_vectors(n: int, seed: int = 0) -> np.ndarray:
    """Clustered vectors with a spread of norms, like a BPR model's items (popular ones longer)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, DIM))
    vectors = centres[rng.integers(20, size=n)] + 0.5 * rng.normal(size=(n, DIM))
    return (vectors * rng.lognormal(0.0, 0.4, size=(n, 1))).astype(np.float32)


def user_vectors(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)


def brute_force(items: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-(queries @ items.T), axis=1, kind="stable")[:, :k]


def test_exact_index_matches_brute_force():
    items, queries = item_vectors(500), user_vectors(30)
    scores, ids = ExactIndex(DIM, items).search(queries, 20)
    np.testing.assert_array_equal(ids, brute_force(items, queries, 20))
    np.testing.assert_allclose(scores, np.take_along_axis(queries @ items.T, ids, axis=1), rtol=1e-5)
    assert scores.dtype == np.float32 and ids.dtype == np.int64
    assert (np.diff(scores, axis=1) <= 0).all()


def test_exact_index_searches_large_batches_in_blocks(monkeypatch):
    monkeypatch.setattr("kgplatform.serving.ann.EXACT_BLOCK_FLOATS", 500 * 7)  # 7 queries a block
    items, queries = item_vectors(500), user_vectors(30)
    _, ids = ExactIndex(DIM, items).search(queries, 5)
    np.testing.assert_array_equal(ids, brute_force(items, queries, 5))


@pytest.mark.parametrize("kind", ["exact", "faiss-hnsw", "faiss-ivf", "usearch-hnsw"])
def test_added_items_are_found_with_their_ids(kind):
    items = item_vectors(400)
    index = build_index(items, kind)
    new = 50.0 * np.eye(3, DIM, dtype=np.float32)  # far longer than any item along three axes
    index.add(new)
    assert len(index) == 403
    scores, ids = index.search(np.eye(3, DIM, dtype=np.float32), 1)
    assert ids[:, 0].tolist() == [400, 401, 402]
    np.testing.assert_allclose(scores[:, 0], 50.0, rtol=1e-5)


@pytest.mark.parametrize("kind", ["faiss-hnsw", "usearch-hnsw"])
def test_added_items_of_ordinary_length_join_the_graph(kind):
    items, new, queries = item_vectors(400), item_vectors(100, seed=9), user_vectors(50)
    head = {"exact_head": 4} if kind == "faiss-hnsw" else {}  # 64 of 400 items would set the radius low
    index = build_index(items, kind, ef_search=128, **head)
    aside = getattr(index, "aside", 0)
    index.add(new)
    assert getattr(index, "aside", 0) - aside <= 5  # within the reduction's headroom: in the graph, not aside
    both = ExactIndex(DIM, np.concatenate([items, new]))
    assert recall_at_k(index, both, queries, 20) >= 0.97
    assert (index.search(queries, 20)[1] >= 400).any()


def test_hnsw_scores_are_exact_inner_products():
    items, queries = item_vectors(500), user_vectors(10)
    scores, ids = FaissHNSWIndex(DIM, items).search(queries, 10)
    np.testing.assert_allclose(scores, np.take_along_axis(queries @ items.T, ids, axis=1), rtol=1e-5)
    assert (np.diff(scores, axis=1) <= 0).all()


def test_hnsw_scores_its_longest_items_exactly():
    items = item_vectors(400)
    index = FaissHNSWIndex(DIM, items, exact_head=10)
    longest = np.argsort(-np.linalg.norm(items, axis=1))[:10]
    assert index.aside == 10 and index.radius < np.linalg.norm(items[longest[0]])
    _, ids = index.search(items[longest], 1)  # a long item is its own best match along itself
    assert set(ids[:, 0]) <= set(range(400))


def test_hnsw_keeps_items_longer_than_its_radius_aside():
    items = item_vectors(400)
    index = FaissHNSWIndex(DIM, items, exact_head=0)
    index.add(3 * index.radius * np.eye(2, DIM, dtype=np.float32))
    assert index.aside == 2 and len(index) == 402
    _, ids = index.search(np.eye(2, DIM, dtype=np.float32), 3)
    assert ids[:, 0].tolist() == [400, 401]


@pytest.mark.parametrize("kind", ["exact", "faiss-hnsw", "usearch-hnsw"])
def test_k_beyond_the_index_pads_with_minus_one(kind):
    items = item_vectors(5)
    scores, ids = build_index(items, kind).search(user_vectors(2), 8)
    assert ids.shape == scores.shape == (2, 8)
    assert (ids[:, 5:] == -1).all() and np.isneginf(scores[:, 5:]).all()
    assert sorted(ids[0, :5].tolist()) == [0, 1, 2, 3, 4]


def test_an_empty_index_answers_with_no_items():
    scores, ids = ExactIndex(DIM).search(user_vectors(1)[0], 3)  # one vector [d] is one query
    assert ids.tolist() == [[-1, -1, -1]] and np.isneginf(scores).all()


def test_bad_input_is_refused():
    index = ExactIndex(DIM, item_vectors(10))
    with pytest.raises(ValueError):
        index.search(user_vectors(1), 0)
    with pytest.raises(ValueError):
        index.search(np.zeros((1, DIM + 1), dtype=np.float32), 3)
    with pytest.raises(ValueError):
        build_index(item_vectors(10), "annoy")


def test_recall_of_exact_against_itself_is_one():
    items, queries = item_vectors(300), user_vectors(20)
    assert recall_at_k(ExactIndex(DIM, items), ExactIndex(DIM, items), queries, 20) == 1.0


def test_recall_counts_the_share_of_true_items_found():
    items, queries = item_vectors(300), user_vectors(20)
    crippled = FaissHNSWIndex(DIM, items, m=2, ef_construction=2, ef_search=1)
    assert recall_at_k(crippled, ExactIndex(DIM, items), queries, 20) < 0.99


def test_choose_index_picks_the_ann_on_a_realistic_set():
    items, queries = item_vectors(3000), user_vectors(200)
    index, report = choose_index(items, queries, min_items=1000, require_faster=False)  # timing is not the point
    assert report["kind"] == index.kind == "faiss-hnsw"
    assert report["recall"] >= 0.99 and report["ef_search"] == index.effort
    assert report["tried"][-1]["recall"] >= 0.99 and report["build_s"] >= 0
    assert recall_at_k(index, ExactIndex(DIM, items), queries, 20) >= 0.99


def test_choose_index_falls_back_to_exact_when_the_ann_misses_the_bar():
    items, queries = item_vectors(3000), user_vectors(200)
    index, report = choose_index(items, queries, min_items=1000, m=2, ef_construction=2, ef_search=1,
                                 ef_steps=(1, 2))
    assert index.kind == report["kind"] == "exact"
    assert report["ann_recall"] < 0.99 and [t["ef_search"] for t in report["tried"]] == [1, 2]
    assert "exact" in report["why"]


def test_choose_index_keeps_small_catalogues_exact():
    index, report = choose_index(item_vectors(300), user_vectors(20), min_items=1000)
    assert index.kind == "exact" and "min_items" in report["why"]


def test_usearch_index_reaches_the_bar_too():
    items, queries = item_vectors(2000), user_vectors(100)
    index = UsearchHNSWIndex(DIM, items, ef_search=128)
    assert recall_at_k(index, ExactIndex(DIM, items), queries, 20) >= 0.99


@pytest.mark.parametrize("kind", ["exact", "faiss-hnsw"])
def test_searches_and_adds_from_threads(kind):
    items, queries = item_vectors(1000), user_vectors(50)
    index = build_index(items, kind)
    errors: list[Exception] = []
    stop = threading.Event()

    def searcher():
        try:
            while not stop.is_set():
                scores, ids = index.search(queries, 25)
                assert ids.shape == (50, 25) and (ids >= 0).all() and (ids < len(index)).all()
        except Exception as exc:  # reported below, in the test's own thread
            errors.append(exc)

    threads = [threading.Thread(target=searcher) for _ in range(4)]
    for t in threads:
        t.start()
    for batch in range(20):
        index.add(item_vectors(10, seed=100 + batch))
    stop.set()
    for t in threads:
        t.join()
    assert not errors
    assert len(index) == 1200


def test_an_add_waits_for_the_searches_in_flight():
    index = ExactIndex(DIM, item_vectors(10))
    with index._lock.reading():  # a search in flight
        adder = threading.Thread(target=index.add, args=(item_vectors(5),))
        adder.start()
        adder.join(0.2)
        assert adder.is_alive() and len(index) == 10
    adder.join(5)
    assert not adder.is_alive() and len(index) == 15


def test_the_benchmark_measures_and_renders_a_small_catalogue():
    from kgplatform.bench.ann import bench_dataset, render_ann_markdown

    report = bench_dataset("tiny", user_vectors(60), item_vectors(300), {"train_s": 0.0}, log=lambda line: None)
    assert report["rows"][0]["index"] == "exact" and report["rows"][0]["recall@20"] == 1.0
    assert {r["kind"] for r in report["rows"]} >= {"exact", "faiss-hnsw", "faiss-hnsw-ip", "faiss-ivf"}
    assert report["choose_index"]["kind"] == "exact"  # 300 items: under MIN_ANN_ITEMS
    full = {"k": 20, "query_sample": 60, "latency_sample": 60, "time_budget_s": 1.0, "synthetic_time_budget_s": 1.0,
            "min_recall": 0.99, "min_ann_items": 10_000, "cpus": 2, "load_average": {"start": 0.0, "end": 0.0},
            "libraries": {}, "datasets": [report]}
    text = render_ann_markdown(full)
    assert "| tiny | 300 | exact |" in text and "faiss HNSW, raw IP" in text
