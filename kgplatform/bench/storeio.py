"""Store I/O against the database's own speed: the platform's ingest, export and write-back, each timed in the same
run as a bare client loop (the store's own driver, cypher/bench/raw_*.cypher, nothing of the platform between)
over the same data on the same store. A ratio is the platform's rate over the raw loop's (1.0: as fast)."""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from kgplatform.graph import cypher_files
from kgplatform.graph.export import export_snapshot
from kgplatform.graph.store import GraphStore, chunks, execute
from kgplatform.graph.writeback import write_predictions
from kgplatform.ingest.load import load_graph, parse_source
from kgplatform.progress import ProgressFn
from kgplatform.settings import Settings


class RawClient:
    """The store's own client, opened directly: what a user would write without kgplatform."""

    def __init__(self, settings: Settings, graph: str):
        self.backend = "neo4j" if settings.neo4j_uri and settings.store != "falkordb" else "falkordb"
        if self.backend == "falkordb":
            from falkordb import FalkorDB

            self._graph = FalkorDB(host=settings.falkordb_host, port=settings.falkordb_port,
                                   password=settings.redis_password).select_graph(graph)
        else:
            import neo4j

            self._driver = neo4j.GraphDatabase.driver(settings.neo4j_uri,
                                                      auth=(settings.neo4j_username, settings.neo4j_password))
            self._database = settings.neo4j_database

    def run(self, text: str, params: dict) -> list:
        if self.backend == "falkordb":
            return self._graph.query(text, params).result_set
        records, _, _ = self._driver.execute_query(text, params, database_=self._database)
        return [r.values() for r in records]

    def close(self) -> None:
        if self.backend == "neo4j":
            self._driver.close()


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0


def _measured(count: int, seconds: float) -> dict:
    return {"items": count, "seconds": round(seconds, 3), "per_s": _rate(count, seconds)}


def _ratio(platform: dict, raw: dict) -> float:
    return round(platform["per_s"] / raw["per_s"], 3) if raw["per_s"] else 0.0


def read_dataset_rows(folder: Path) -> tuple[dict[str, list[dict]], dict[str, list[dict]]]:
    """The raw loop's own reading of a dataset folder: entity rows by type, relationship rows by type."""
    nodes: dict[str, list[dict]] = defaultdict(list)
    edges: dict[str, list[dict]] = defaultdict(list)
    with (folder / "entities.tsv").open(encoding="utf-8") as fh:
        for line in fh:
            ent_id, name, description, kind = line.rstrip("\n").split("\t")
            nodes[kind].append({"id": ent_id, "name": name, "description": description, "type": kind})
    for split in ("train", "valid", "test"):
        with (folder / f"triples_{split}.tsv").open(encoding="utf-8") as fh:
            for line in fh:
                head, rel, tail = line.rstrip("\n").split("\t")
                edges[rel].append({"head": head, "tail": tail, "split": split})
    return nodes, edges


def dataset_rel_types(folder: Path) -> list[str]:
    """The relationship types a dataset folder's triples use (a column read, no rows kept)."""
    types: set[str] = set()
    for split in ("train", "valid", "test"):
        with (folder / f"triples_{split}.tsv").open(encoding="utf-8") as fh:
            types.update(line.split("\t", 2)[1] for line in fh if line.strip())
    return sorted(types)


def raw_ingest(client: RawClient, folder: Path, batch_size: int) -> dict:
    started = time.perf_counter()
    nodes, edges = read_dataset_rows(folder)
    count = 0
    for label, rows in sorted(nodes.items()):
        text = cypher_files.render("bench/raw_merge_nodes", label=label)
        for batch in chunks(rows, batch_size):
            client.run(text, {"rows": batch})
        count += len(rows)
    for rel_type, rows in sorted(edges.items()):
        text = cypher_files.render("bench/raw_merge_edges", rel_type=rel_type)
        for batch in chunks(rows, batch_size):
            client.run(text, {"rows": batch})
        count += len(rows)
    return _measured(count, time.perf_counter() - started)


def platform_ingest(store: GraphStore, folder: Path, batch_size: int, progress: ProgressFn | None = None) -> dict:
    started = time.perf_counter()
    report = load_graph(store, parse_source(folder), batch_size=batch_size, progress=progress)
    return _measured(report["entities"] + report["triples"], time.perf_counter() - started)


def raw_export(client: RawClient, page_size: int) -> dict:
    """Keyset pages of entities, then each page's outgoing relationships: rows fetched, nothing built of them."""
    started = time.perf_counter()
    nodes_text, edges_text = cypher_files.load("bench/raw_nodes_page"), cypher_files.load("bench/raw_edges_page")
    after, edges = "", 0
    while True:
        rows = client.run(nodes_text, {"after": after, "page_size": page_size})
        if not rows:
            break
        after = rows[-1][0]
        edges += len(client.run(edges_text, {"ids": [r[0] for r in rows]}))
    return _measured(edges, time.perf_counter() - started)


def platform_export(store: GraphStore, page_size: int) -> tuple[dict, object]:
    started = time.perf_counter()
    snapshot = export_snapshot(store, page_size=page_size)
    return _measured(snapshot.edge_index.shape[1], time.perf_counter() - started), snapshot


def writeback_rows(snapshot, count: int, seed: int = 5) -> list[dict]:
    """`count` scored product-product pairs of the snapshot's most common relation that it does not hold."""
    rng = np.random.default_rng(seed)
    rel = int(np.bincount(snapshot.edge_type.numpy()).argmax())
    rows = snapshot.edge_type.numpy() == rel
    heads = np.unique(snapshot.edge_index[0].numpy()[rows])
    tails = np.unique(snapshot.edge_index[1].numpy()[rows])
    known = set(zip(snapshot.edge_index[0].numpy()[rows].tolist(), snapshot.edge_index[1].numpy()[rows].tolist()))
    pairs: set[tuple[int, int]] = set()
    while len(pairs) < count:
        for h, t in zip(rng.choice(heads, count).tolist(), rng.choice(tails, count).tolist()):
            if h != t and (h, t) not in known:
                pairs.add((h, t))
    scores = rng.random(count)
    return [{"head": snapshot.node_ids[h], "tail": snapshot.node_ids[t], "rel_type": snapshot.rel_names[rel],
             "score": float(s), "probability": float(s), "evidence": "storeio benchmark"}
            for (h, t), s in zip(sorted(pairs)[:count], scores)]


def raw_writeback(client: RawClient, rows: list[dict], batch_size: int, run_id: str) -> dict:
    started = time.perf_counter()
    by_type = defaultdict(list)
    for r in rows:
        by_type[r["rel_type"]].append({"head": r["head"], "tail": r["tail"], "run_id": run_id, "score": r["score"],
                                       "probability": r["probability"], "model": "storeio-bench",
                                       "method": "bench", "evidence": r["evidence"]})
    for rel_type, typed in by_type.items():
        text = cypher_files.render("bench/raw_merge_predicted", rel_type=rel_type)
        for batch in chunks(typed, batch_size):
            client.run(text, {"rows": batch})
    return _measured(len(rows), time.perf_counter() - started)


def platform_writeback(store: GraphStore, rows: list[dict], batch_size: int, run_id: str) -> dict:
    started = time.perf_counter()
    write_predictions(store, rows, run_id=run_id, model="storeio-bench", method="bench", batch_size=batch_size)
    return _measured(len(rows), time.perf_counter() - started)


def measure_store_io(settings: Settings, open_graph, folder: Path, *, batch_size: int, page_size: int,
                     writeback_count: int, stage=None, progress: ProgressFn | None = None) -> dict:
    """Ingest the dataset twice (the raw loop into one graph, then the platform into another), export the
    platform's graph both ways, write the same number of scored pairs both ways. open_graph(name) -> a fresh,
    empty GraphStore; stage(name): a context around each stage (bench/memory.StageMeter.stage).
    Returns {"ingest"|"export"|"writeback": {"platform", "raw", "ratio"}, "snapshot": the export, "graph": the
    platform's graph, left in place}."""
    stage = stage or (lambda name: nullcontext())
    platform_store = open_graph(f"{settings.graph}_io")
    raw_store = open_graph(f"{settings.graph}_io_raw")
    client = RawClient(settings, raw_store.graph_name)
    try:
        raw_store.apply_schema(dataset_rel_types(folder))  # the same indexes for the raw loop
        result: dict = {"graph": platform_store.graph_name}
        with stage("raw-ingest"):
            raw = raw_ingest(client, folder, batch_size)
        client.close()
        raw_store.delete_graph()  # the store holds one copy of the data from here on
        with stage("ingest"):
            mine = platform_ingest(platform_store, folder, batch_size, progress)
        result["ingest"] = {"platform": mine, "raw": raw, "ratio": _ratio(mine, raw)}
        client = RawClient(settings, platform_store.graph_name)
        with stage("raw-export"):
            raw = raw_export(client, page_size)
        with stage("export"):
            mine, snapshot = platform_export(platform_store, page_size)
        result["export"] = {"platform": mine, "raw": raw, "ratio": _ratio(mine, raw)}
        # Disjoint pairs: a MERGE keyed on run_id scans the parallel edges a pair already has, so writing the same
        # pairs twice would slow whichever loop came second.
        rows = writeback_rows(snapshot, 2 * writeback_count)
        with stage("raw-writeback"):
            raw = raw_writeback(client, rows[::2], batch_size, "bench-io-raw")
        with stage("writeback"):
            mine = platform_writeback(platform_store, rows[1::2], batch_size, "bench-io-platform")
        result["writeback"] = {"platform": mine, "raw": raw, "ratio": _ratio(mine, raw)}
        retract_bench_edges(platform_store)
        result["snapshot"] = snapshot
        return result
    finally:
        client.close()
        raw_store.delete_graph()
        raw_store.close()
        platform_store.close()


def retract_bench_edges(store: GraphStore) -> None:
    """The write-back measurement's edges, so that the pipeline after it learns from the catalogue alone."""
    execute(store, "bench/delete_run_edges", {"run_ids": ["bench-io-raw", "bench-io-platform"]})
