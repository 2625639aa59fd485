"""The embedded servers under hostile but realistic use: a password on both, a deadline the store enforces on a
long read while the broker (a process of its own) keeps answering, and no graph created by a misspelt name."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from kgplatform.errors import StoreError
from kgplatform.graph.store import embedded_broker, embedded_server, open_store
from tests.support.env import run_kgp

LONG_READ = "MATCH (a:N), (b:N) WITH a, b WHERE a.i + b.i > 0 RETURN count(*) AS n"


def test_both_servers_refuse_clients_without_the_password(base_settings):
    embedded_broker(base_settings).start()
    for server in (embedded_server(base_settings), embedded_broker(base_settings)):
        bare = redis.Redis(host=server.host, port=server.port, socket_timeout=5)
        with pytest.raises(redis.exceptions.AuthenticationError):
            bare.ping()
        assert server.client().ping()
    secret = base_settings.home / "secrets" / "redis.password"
    assert secret.stat().st_mode & 0o777 == 0o600 and secret.parent.stat().st_mode & 0o777 == 0o700
    assert base_settings.redis_password not in " ".join(open(f"/proc/{embedded_server(base_settings)._pid()}/cmdline")
                                                      .read().split("\0"))


def test_a_long_read_is_cancelled_by_its_deadline_while_the_broker_answers(settings, store, cli_env):
    store.query("UNWIND range(1, 4000) AS i CREATE (:N {i: i})")
    broker = embedded_broker(settings)
    broker.start()
    assert broker.port != settings.falkordb_port and broker._pid() != embedded_server(settings)._pid()
    client, worst, stop = broker.client(), [0.0], threading.Event()

    def ping() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            assert client.ping()
            worst[0] = max(worst[0], time.perf_counter() - started)
            time.sleep(0.02)

    pinger = threading.Thread(target=ping)
    pinger.start()
    started = time.perf_counter()
    writer = threading.Thread(target=lambda: open_store(settings).query("CREATE (:N {i: -1})"))
    try:
        with pytest.raises(StoreError, match="deadline"):
            threading.Timer(0.3, writer.start).start()  # a write queued behind the read, as in the field report
            store.query(LONG_READ, read_only=True, timeout_s=3)
        read_s = time.perf_counter() - started
    finally:
        time.sleep(0.5)
        writer.join(timeout=60)
        stop.set()
        pinger.join()
    assert read_s < 30  # cancelled, not run to the end
    assert worst[0] < read_s / 2, (worst[0], read_s)  # a shared server would have stalled PING for the whole read
    done = run_kgp("cypher", LONG_READ, "--timeout", "0.5", env=cli_env)
    assert done.returncode == 2 and "deadline" in done.stderr and "Traceback" not in done.stderr


def test_kgp_cypher_on_a_misspelt_graph_is_refused_and_creates_nothing(settings, store, cli_env):
    store.query("CREATE (:Entity {id: 'x'})")
    typo = settings.graph + "_typo"
    done = run_kgp("cypher", "MATCH (n) RETURN count(n) AS n", env={**cli_env, "KGP_GRAPH": typo})
    assert done.returncode == 2 and f"no graph {typo!r}" in done.stderr and settings.graph in done.stderr
    assert typo not in embedded_server(settings).status()["graphs"]
