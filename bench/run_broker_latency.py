"""Does the Celery broker stay responsive while the graph store is busy? PING latency during one long read plus
one queued write, in three set-ups side by side in the same run:

1. shared, no limit: the broker is the store's own redis-server, queries have no deadline (what kgplatform did);
2. shared, 1 s deadline: the same server with FalkorDB's TIMEOUT_DEFAULT, which cancels the read;
3. own process: the broker is a redis-server of its own (what the embedded default does now).

A FalkorDB write waits for the running read while holding the server, so every client of that server waits too:
PING included. Usage: .venv/bin/python bench/run_broker_latency.py [--nodes N] [--repeats R]
Writes bench/results/broker.json and broker.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

from falkordb import FalkorDB

from kgplatform.graph.embedded import EmbeddedFalkorDB

RESULTS = Path(__file__).resolve().parent / "results"
PASSWORD = "bench-" + "x" * 24
LONG_READ = "MATCH (a:N), (b:N) WITH a, b WHERE a.i + b.i > 0 RETURN count(*) AS n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server(folder: Path, *, graph: bool, timeout_ms: int = 0) -> EmbeddedFalkorDB:
    args = ("TIMEOUT_DEFAULT", str(timeout_ms), "TIMEOUT_MAX", str(timeout_ms)) if graph else ()
    s = EmbeddedFalkorDB(folder, port=free_port(), password=PASSWORD, graph_module=graph, module_args=args)
    s.start()
    return s


def busy_store(store: EmbeddedFalkorDB, pinged: EmbeddedFalkorDB, nodes: int) -> dict:
    """One long read, a write queued behind it, and PING every 20 ms on ``pinged`` meanwhile."""
    graph = FalkorDB(port=store.port, password=PASSWORD).select_graph("g")
    graph.query("MATCH (n) DELETE n")
    graph.query("UNWIND range(1, $n) AS i CREATE (:N {i: i})", {"n": nodes})
    client = pinged.client()
    latencies, stop, outcome = [], threading.Event(), {}

    def ping() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            client.ping()
            latencies.append(time.perf_counter() - started)
            time.sleep(0.02)

    def read() -> None:
        started = time.perf_counter()
        try:
            FalkorDB(port=store.port, password=PASSWORD).select_graph("g").ro_query(LONG_READ)
            outcome["read"] = "completed"
        except Exception as exc:  # noqa: BLE001 - the deadline's cancellation is an outcome, not a failure
            outcome["read"] = f"cancelled: {exc}"
        outcome["read_s"] = round(time.perf_counter() - started, 3)

    def write() -> None:
        FalkorDB(port=store.port, password=PASSWORD).select_graph("g").query("CREATE (:N {i: -1})")

    pinger = threading.Thread(target=ping)
    pinger.start()
    time.sleep(0.3)
    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.2)
    writer = threading.Thread(target=write)
    writer.start()
    reader.join()
    writer.join()
    time.sleep(0.3)
    stop.set()
    pinger.join()
    ms = sorted(x * 1000 for x in latencies)
    return {**outcome, "pings": len(ms), "max_ms": round(ms[-1], 1), "p99_ms": round(ms[int(0.99 * (len(ms) - 1))], 1),
            "median_ms": round(statistics.median(ms), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=3000, help="nodes in the cartesian read (N^2 rows)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="kgp-broker-bench-"))
    rows = []
    try:
        setups = [("shared, no limit", dict(graph=True), None),
                  ("shared, 1 s deadline", dict(graph=True, timeout_ms=1000), None),
                  ("own process (kgplatform)", dict(graph=True), dict(graph=False))]
        for i, (name, store_args, broker_args) in enumerate(setups):
            store = server(root / f"store{i}", **store_args)
            broker = server(root / f"broker{i}", **broker_args) if broker_args else store
            try:
                trials = [busy_store(store, broker, args.nodes) for _ in range(args.repeats)]
            finally:
                store.stop()
                if broker is not store:
                    broker.stop()
            rows.append({"setup": name, "trials": trials, "max_ms": max(t["max_ms"] for t in trials),
                         "read": trials[0]["read"], "read_s": statistics.median(t["read_s"] for t in trials)})
    finally:
        shutil.rmtree(root, ignore_errors=True)
    baseline = rows[0]["max_ms"]
    for row in rows:
        row["max_vs_shared_no_limit"] = round(row["max_ms"] / baseline, 4)
    report = {"nodes": args.nodes, "repeats": args.repeats, "query": LONG_READ, "machine": platform.platform(),
              "cpus": __import__("os").cpu_count(), "setups": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "broker.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"# Broker PING while the graph store is busy ({args.nodes} nodes, cartesian read + a queued write, "
             f"{args.repeats} trials each, same run)", "",
             "| set-up | worst PING (ms) | vs shared, no limit | the long read |", "|---|---:|---:|---|"]
    for row in rows:
        lines.append(f"| {row['setup']} | {row['max_ms']:.1f} | {row['max_vs_shared_no_limit']:.3f} | "
                     f"{row['read'].split(':')[0]} after {row['read_s']:.2f} s |")
    lines += ["", "Reproduce: `.venv/bin/python bench/run_broker_latency.py` (bench/run_broker_latency.py says why)."]
    (RESULTS / "broker.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
