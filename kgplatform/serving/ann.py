"""The item index the recommendation API retrieves from: the k items with the largest inner product with a user vector.

Item vectors of a BPR-trained model are not normalised, so this is maximum-inner-product search. Exact scoring is a
matrix product. The approximate index the API uses is faiss HNSW over the inner-product-to-L2 reduction
(FaissHNSWIndex); faiss HNSW over raw inner product, faiss IVF-Flat and usearch HNSW (metric 'ip') are here to be
measured against it and against exact in `kgp bench ann` (bench/results/ann.md). `choose_index` is the API's rule
(issue 21): an approximate index only where it has shown Recall@k >= 0.99 against exact on a sample of real user
vectors, and only on catalogues large enough for it to beat exact scoring; everywhere else, exact.

Thread-safety: searches come from many request threads while new products are added. Every index holds a
readers-writer lock: searches share it (faiss, usearch and numpy release the GIL while they search, so they do run
side by side), an add or a parameter change takes it alone, so an add never races a search. Searches are short
(well under a millisecond at 25k items), so a waiting add is never held up for long; new searches queue behind a
waiting add, so a stream of searches cannot starve it.

Nothing here reads from disk: an index is rebuilt from the model's vectors (no pickle, no serialised index files).

For the serving process: keep numpy's BLAS on one thread (threadpoolctl, or OPENBLAS_NUM_THREADS=1). Concurrency
comes from the request threads; a two-thread BLAS call on a busy machine waits for the second core (measured in
the benchmark: exact single-query p50 12 ms at 25k items instead of 0.35 ms).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

MIN_RECALL = 0.99  # the bar for serving from an approximate index
# Below this many items exact scoring is about as fast as the ANN (measured single-threaded on random subsets of
# the Amazon-Book-size vectors, bench/results/ann.md: ANN / exact p50 0.70 at 5k items, 0.44 at 10k, 0.19 at 25k);
# under it exact scoring wins on being exact. At 1M items exact would take ~15 ms a query (linear in the items).
MIN_ANN_ITEMS = 10_000
EF_SEARCH_STEPS = (20, 40, 80, 160, 320, 640)  # what choose_index tries, lowest first, until the bar is met
EXACT_BLOCK_FLOATS = 2**24  # scores held at once by an exact batch search (64 MB): big batches go in blocks


class ReadWriteLock:
    """Many readers or one writer; a waiting writer goes before readers that arrive after it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writing and not self._writers_waiting)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            self._cond.wait_for(lambda: not self._writing and not self._readers)
            self._writers_waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


def as_matrix(vectors: np.ndarray, dim: int | None = None) -> np.ndarray:
    """C-contiguous float32 [n, d] (one vector [d] becomes [1, d]); a wrong width is a ValueError."""
    matrix = np.ascontiguousarray(vectors, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix[None, :]
    if matrix.ndim != 2 or (dim is not None and matrix.shape[1] != dim):
        raise ValueError(f"expected vectors of shape [n, {dim or 'd'}], got {tuple(np.shape(vectors))}")
    return matrix


class ItemIndex:
    """Items 0..len-1 in the order they were added; search returns the k largest inner products, best first."""

    kind = "base"

    def __init__(self, dim: int):
        if dim < 1:
            raise ValueError(f"dim must be positive, got {dim}")
        self.dim = dim
        self._count = 0
        self._lock = ReadWriteLock()

    def __len__(self) -> int:
        return self._count

    def add(self, vectors: np.ndarray) -> None:
        """Append items; their ids continue from len(self)."""
        vectors = as_matrix(vectors, self.dim)
        if not len(vectors):
            return
        with self._lock.writing():
            self._add(vectors)
            self._count += len(vectors)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores [q, k] float32, ids [q, k] int64), best first; id -1 with score -inf where there is no k-th
        item (k larger than the index, or an approximate search that found fewer)."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        queries = as_matrix(queries, self.dim)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        with self._lock.reading():
            found = min(k, self._count)
            if found and len(queries):
                scores[:, :found], ids[:, :found] = self._search(queries, found)
        scores[ids < 0] = -np.inf
        return scores, ids

    def params(self) -> dict:
        """The settings that shape its answers, for reports."""
        return {}

    def memory_bytes(self) -> int:
        """About how much memory the index holds (vectors and graph or lists)."""
        raise NotImplementedError

    def _add(self, vectors: np.ndarray) -> None:
        raise NotImplementedError

    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """k <= len(self) here."""
        raise NotImplementedError


class GrowingRows:
    """Rows appended in place, the buffer doubled when full: appends cost O(1) amortised."""

    def __init__(self, row_shape: tuple[int, ...], dtype=np.float32):
        self._data = np.empty((0, *row_shape), dtype=dtype)
        self._count = 0

    def append(self, rows: np.ndarray) -> None:
        needed = self._count + len(rows)
        if needed > len(self._data):
            grown = np.empty((max(needed, 2 * len(self._data)), *self._data.shape[1:]), dtype=self._data.dtype)
            grown[: self._count] = self._data[: self._count]
            self._data = grown
        self._data[self._count:needed] = rows
        self._count = needed

    def view(self) -> np.ndarray:
        return self._data[: self._count]

    @property
    def nbytes(self) -> int:
        return self._data.nbytes


class ExactIndex(ItemIndex):
    """Every item scored: a matrix product and a partial sort."""

    kind = "exact"

    def __init__(self, dim: int, vectors: np.ndarray | None = None):
        super().__init__(dim)
        self._items = GrowingRows((dim,))
        if vectors is not None:
            self.add(vectors)

    def memory_bytes(self) -> int:
        return self._items.nbytes

    def _add(self, vectors: np.ndarray) -> None:
        self._items.append(vectors)

    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        items = self._items.view()
        block = max(1, EXACT_BLOCK_FLOATS // len(items))
        parts = [top_k(queries[start:start + block] @ items.T, k) for start in range(0, len(queries), block)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def top_k(scores: np.ndarray, k: int, ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The k largest of each row of scores [q, n], best first, with their columns (or ids [q, n] when given)."""
    if k < scores.shape[1]:
        columns = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        columns = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
    top = np.take_along_axis(scores, columns, axis=1)
    order = np.argsort(-top, axis=1, kind="stable")
    columns = np.take_along_axis(columns, order, axis=1)
    chosen = columns if ids is None else np.take_along_axis(ids, columns, axis=1)
    return np.take_along_axis(top, order, axis=1), chosen.astype(np.int64)


class ApproximateIndex(ItemIndex):
    """An index with one search-effort knob (efSearch, nprobe): more effort, higher recall, slower searches."""

    effort_name = "effort"

    @property
    def effort(self) -> int:
        raise NotImplementedError

    def set_effort(self, value: int) -> None:
        with self._lock.writing():  # never changed under a running search
            self._set_effort(int(value))

    def _set_effort(self, value: int) -> None:
        raise NotImplementedError


def faiss_bytes(index) -> int:
    """The size of a faiss index's serialised form (in memory): its vectors, graph or lists, and little else."""
    import faiss

    return int(faiss.serialize_index(index).size)


def hnsw_params(ef_search: int, k: int):
    """faiss HNSW keeps only efSearch candidates even when asked for more (measured: k 120 at efSearch 16 found
    68 % of the true top 120): search with at least k."""
    import faiss

    return faiss.SearchParametersHNSW(efSearch=max(ef_search, k))


class FaissHNSWIndex(ApproximateIndex):
    """faiss IndexHNSWFlat (L2) over the reduction of inner product to L2 distance (Bachrach et al. 2014): item x
    becomes [x, sqrt(R^2 - |x|^2)] and query q becomes [q, 0], so |q' - x'|^2 = |q|^2 + R^2 - 2 q.x ranks the
    items exactly as q.x does.

    The longest items are kept out of the graph and scored exactly at every search (exact_head of them, chosen at
    build; 64 cost ~64 dot products a query). Why: the long items are the popular ones, in almost every user's top
    20, and HNSW can leave a node with no links into it; when that node is one of them, a few per cent of
    Recall@20 is lost whatever the efSearch (measured: raw inner-product HNSW stuck at 0.90 on Amazon-Book-size
    vectors, and the reduction without the exact head stuck at 0.95 on a 1,000-item subset of them).

    R is the largest norm of the graph's items at build, times headroom. An item added later with a larger norm
    cannot be reduced: it joins the exactly scored ones, until the next model swap rebuilds the index. Scores are
    exact inner products, recomputed from the stored vectors (and the top k re-sorted by them)."""

    kind = "faiss-hnsw"
    effort_name = "ef_search"

    def __init__(self, dim: int, vectors: np.ndarray | None = None, *, m: int = 32, ef_construction: int = 100,
                 ef_search: int = 64, headroom: float = 1.2, exact_head: int = 64):
        import faiss

        super().__init__(dim)
        self.m, self.headroom, self.exact_head = m, headroom, exact_head
        self.radius: float | None = None  # fixed by the first add
        self._index = faiss.IndexHNSWFlat(dim + 1, m)
        self._index.hnsw.efConstruction = ef_construction
        self._index.hnsw.efSearch = ef_search
        self._vectors = GrowingRows((dim,))
        self._graph_ids = GrowingRows((), np.int64)  # faiss row -> item id
        self._aside = GrowingRows((), np.int64)  # the exact head and items too long for the reduction
        if vectors is not None:
            self.add(vectors)

    @property
    def effort(self) -> int:
        return int(self._index.hnsw.efSearch)

    @property
    def aside(self) -> int:
        """Items scored exactly, outside the graph."""
        return len(self._aside.view())

    def params(self) -> dict:
        return {"m": self.m, "ef_construction": int(self._index.hnsw.efConstruction), "ef_search": self.effort,
                "headroom": self.headroom, "exact_head": self.exact_head, "aside": self.aside}

    def memory_bytes(self) -> int:
        return faiss_bytes(self._index) + self._vectors.nbytes + self._graph_ids.nbytes + self._aside.nbytes

    def _set_effort(self, value: int) -> None:
        self._index.hnsw.efSearch = value

    def _add(self, vectors: np.ndarray) -> None:
        ids = np.arange(self._count, self._count + len(vectors), dtype=np.int64)
        norms = np.linalg.norm(vectors, axis=1)
        fits = np.ones(len(vectors), dtype=bool)
        if self.radius is None:  # the build: the longest items are scored exactly, the radius fits the rest
            fits[np.argsort(-norms, kind="stable")[: self.exact_head]] = False
            self.radius = float(norms[fits].max() if fits.any() else norms.max()) * self.headroom or 1.0
        fits &= norms <= self.radius
        extra = np.sqrt(np.maximum(self.radius**2 - norms[fits] ** 2, 0.0)).astype(np.float32)
        self._index.add(np.hstack([vectors[fits], extra[:, None]]))
        self._graph_ids.append(ids[fits])
        self._aside.append(ids[~fits])
        self._vectors.append(vectors)

    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        vectors, score_parts, id_parts = self._vectors.view(), [], []
        in_graph = self._index.ntotal
        if in_graph:
            reduced = np.hstack([queries, np.zeros((len(queries), 1), dtype=np.float32)])
            _, rows = self._index.search(reduced, min(k, in_graph), params=hnsw_params(self.effort, k))
            ids = np.where(rows >= 0, self._graph_ids.view()[rows], -1)
            scores = np.matmul(vectors[np.maximum(ids, 0)], queries[:, :, None])[:, :, 0]
            scores[ids < 0] = -np.inf
            score_parts.append(scores)
            id_parts.append(ids)
        if self.aside:
            aside = self._aside.view()
            score_parts.append(queries @ vectors[aside].T)
            id_parts.append(np.broadcast_to(aside, (len(queries), len(aside))))
        return top_k(np.concatenate(score_parts, axis=1), k, np.concatenate(id_parts, axis=1))


class FaissHNSWIPIndex(ApproximateIndex):
    """faiss IndexHNSWFlat over raw inner product: measured for the record (it loses large-norm items), not used."""

    kind = "faiss-hnsw-ip"
    effort_name = "ef_search"

    def __init__(self, dim: int, vectors: np.ndarray | None = None, *, m: int = 32, ef_construction: int = 100,
                 ef_search: int = 64):
        import faiss

        super().__init__(dim)
        self.m = m
        self._index = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
        self._index.hnsw.efConstruction = ef_construction
        self._index.hnsw.efSearch = ef_search
        if vectors is not None:
            self.add(vectors)

    @property
    def effort(self) -> int:
        return int(self._index.hnsw.efSearch)

    def params(self) -> dict:
        return {"m": self.m, "ef_construction": int(self._index.hnsw.efConstruction), "ef_search": self.effort}

    def memory_bytes(self) -> int:
        return faiss_bytes(self._index)

    def _set_effort(self, value: int) -> None:
        self._index.hnsw.efSearch = value

    def _add(self, vectors: np.ndarray) -> None:
        self._index.add(vectors)

    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores, ids = self._index.search(queries, k, params=hnsw_params(self.effort, k))
        return scores, ids.astype(np.int64)


class FaissIVFIndex(ApproximateIndex):
    """faiss IndexIVFFlat over inner product: k-means cells over the items; a search scans the nprobe cells whose
    centroids score highest. The cells are learned from the vectors it is built with; later adds join the nearest."""

    kind = "faiss-ivf"
    effort_name = "nprobe"

    def __init__(self, dim: int, vectors: np.ndarray, *, nlist: int | None = None, nprobe: int = 16):
        import faiss

        super().__init__(dim)
        vectors = as_matrix(vectors, dim)
        self.nlist = nlist or max(1, min(int(4 * np.sqrt(len(vectors))), len(vectors) // 39))
        self._quantizer = faiss.IndexFlatIP(dim)
        self._index = faiss.IndexIVFFlat(self._quantizer, dim, self.nlist, faiss.METRIC_INNER_PRODUCT)
        self._index.train(vectors)
        self._index.nprobe = nprobe
        self.add(vectors)

    @property
    def effort(self) -> int:
        return int(self._index.nprobe)

    def params(self) -> dict:
        return {"nlist": self.nlist, "nprobe": self.effort}

    def memory_bytes(self) -> int:
        return faiss_bytes(self._index)

    def _set_effort(self, value: int) -> None:
        self._index.nprobe = min(value, self.nlist)

    def _add(self, vectors: np.ndarray) -> None:
        self._index.add(vectors)

    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores, ids = self._index.search(queries, k)
        return scores, ids.astype(np.int64)


class UsearchHNSWIndex(ApproximateIndex):
    """usearch's HNSW with metric 'ip' (distance 1 - dot). usearch is the bench extra's, not a serving dependency."""

    kind = "usearch-hnsw"
    effort_name = "ef_search"

    def __init__(self, dim: int, vectors: np.ndarray | None = None, *, m: int = 32, ef_construction: int = 100,
                 ef_search: int = 64):
        from usearch.index import Index

        super().__init__(dim)
        self._index = Index(ndim=dim, metric="ip", dtype="f32", connectivity=m, expansion_add=ef_construction,
                            expansion_search=ef_search)
        if vectors is not None:
            self.add(vectors)

    @property
    def effort(self) -> int:
        return int(self._index.expansion_search)

    def params(self) -> dict:
        return {"m": int(self._index.connectivity), "ef_construction": int(self._index.expansion_add),
                "ef_search": self.effort}

    def memory_bytes(self) -> int:
        return int(self._index.serialized_length)  # comparable to faiss's; memory_usage counts preallocated arenas

    def _set_effort(self, value: int) -> None:
        self._index.expansion_search = value

    def _add(self, vectors: np.ndarray) -> None:
        self._index.add(np.arange(self._count, self._count + len(vectors)), vectors, threads=1)

    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        matches = self._index.search(queries, k, threads=1)
        ids = np.asarray(matches.keys, dtype=np.int64).reshape(len(queries), k)
        scores = (1.0 - np.asarray(matches.distances, dtype=np.float32)).reshape(len(queries), k)
        counts = np.asarray(getattr(matches, "counts", [k] * len(queries))).reshape(-1, 1)
        ids[np.arange(k)[None, :] >= counts] = -1  # usearch pads short rows with key 0
        return scores, ids


INDEX_KINDS = {cls.kind: cls for cls in (ExactIndex, FaissHNSWIndex, FaissHNSWIPIndex, FaissIVFIndex,
                                         UsearchHNSWIndex)}
DEFAULT_ANN = FaissHNSWIndex.kind


def build_index(vectors: np.ndarray, kind: str = "auto", **params) -> ItemIndex:
    """An index over vectors [n, d]. kind 'auto': exact below MIN_ANN_ITEMS items, else the default ANN (faiss
    HNSW); its recall is not checked here (choose_index does that). params: the class's keyword settings."""
    vectors = as_matrix(vectors)
    if kind == "auto":
        kind = ExactIndex.kind if len(vectors) < MIN_ANN_ITEMS else DEFAULT_ANN
    if kind not in INDEX_KINDS:
        raise ValueError(f"unknown index kind {kind!r}: one of auto, {', '.join(INDEX_KINDS)}")
    return INDEX_KINDS[kind](vectors.shape[1], vectors, **params)


def recall_at_k(candidate: ItemIndex, exact: ItemIndex, queries: np.ndarray, k: int = 20) -> float:
    """Mean over queries of |candidate's top k ∩ exact's top k| / |exact's top k|."""
    queries = as_matrix(queries, exact.dim)
    if not len(queries):
        raise ValueError("recall needs at least one query")
    return overlap(candidate.search(queries, k)[1], exact.search(queries, k)[1])


def overlap(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of each row's true ids (>= 0) that the found row holds."""
    hits = [len(np.intersect1d(f[f >= 0], t[t >= 0])) / max(1, int((t >= 0).sum())) for f, t in zip(found, truth)]
    return float(np.mean(hits))


def single_query_ms(index: ItemIndex, queries: np.ndarray, k: int) -> float:
    """Median milliseconds of one search of one query (how the API calls it)."""
    times = []
    for query in as_matrix(queries, index.dim):
        started = time.perf_counter()
        index.search(query, k)
        times.append(time.perf_counter() - started)
    return float(np.median(times) * 1000) if times else float("nan")


def choose_index(vectors: np.ndarray, sample_queries: np.ndarray, *, k: int = 20, min_recall: float = MIN_RECALL,
                 min_items: int = MIN_ANN_ITEMS, kind: str = DEFAULT_ANN, ef_steps: tuple[int, ...] = EF_SEARCH_STEPS,
                 timing_queries: int = 200, require_faster: bool = True, **params) -> tuple[ItemIndex, dict]:
    """The index the API serves from, and why: the ANN of `kind` when its Recall@k against exact on the sample
    reaches min_recall at some step of its search effort (tried lowest first), else exact. Below min_items the
    ANN is not built (exact is as fast there). The report: kind, recall, ef_search, build_s, why, and the single-
    query milliseconds of exact and of the chosen ANN on up to timing_queries of the sample. require_faster: an ANN
    whose search at that effort is not faster than exact scoring is not used."""
    vectors, queries = as_matrix(vectors), as_matrix(sample_queries)
    exact = ExactIndex(vectors.shape[1], vectors)
    report = {"kind": ExactIndex.kind, "items": len(vectors), "sample_queries": len(queries), "k": k,
              "min_recall": min_recall, "recall": 1.0, "ef_search": None, "build_s": 0.0, "tried": []}
    if len(vectors) < min_items:
        return exact, {**report, "why": f"{len(vectors)} items, under min_items {min_items}: exact scoring is as "
                                        "fast as the ANN there"}
    if not len(queries):
        return exact, {**report, "why": "no sample queries to measure the ANN's recall on"}
    started = time.perf_counter()
    ann = build_index(vectors, kind, **params)
    report["build_s"] = round(time.perf_counter() - started, 3)
    first = params.get(ann.effort_name, min(ef_steps))  # an effort given in params is where the steps start
    truth = exact.search(queries, k)[1]
    for effort in [s for s in ef_steps if s >= first] or [first]:
        ann.set_effort(effort)
        recall = overlap(ann.search(queries, k)[1], truth)
        report["tried"].append({ann.effort_name: ann.effort, "recall": round(recall, 5)})
        if recall >= min_recall:
            timing = queries[:timing_queries]
            exact_ms, ann_ms = single_query_ms(exact, timing, k), single_query_ms(ann, timing, k)
            reached = f"{ann.kind} reaches Recall@{k} {recall:.4f} >= {min_recall} at {ann.effort_name} {ann.effort}"
            if require_faster and ann_ms >= exact_ms:  # the effort the bar needs costs more than scoring everything
                return exact, {**report, "ef_search": ann.effort, "ann_recall": recall, "exact_ms": exact_ms,
                               "ann_ms": ann_ms, "why": f"{reached}, but at {ann_ms:.3f} ms a query against "
                                                        f"exact's {exact_ms:.3f} ms: exact scoring"}
            return ann, {**report, "kind": ann.kind, "recall": recall, "ef_search": ann.effort,
                         "params": ann.params(), "exact_ms": exact_ms, "ann_ms": ann_ms, "why": reached}
    return exact, {**report, "ef_search": ann.effort, "ann_recall": recall,
                   "why": f"{ann.kind} reaches only Recall@{k} {recall:.4f} < {min_recall} at {ann.effort_name} "
                          f"{ann.effort} (the most tried): exact scoring"}
