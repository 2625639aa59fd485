"""A Celery broker and result backend of its own for each test worker, inside the embedded broker's Redis."""

from __future__ import annotations

import itertools
import time

import redis

from kgplatform.graph.store import embedded_broker
from kgplatform.settings import Settings
from workers import jobs

_databases = itertools.count(3, 2)  # logical Redis databases 3/4, 5/6, ...: a broker + backend pair per worker


def job_env(settings: Settings, **extra) -> dict[str, str]:
    """Environment of a worker (and its client) with a broker of its own inside the embedded server."""
    db = next(_databases)
    assert db < 15, "out of Redis logical databases for test brokers"
    embedded_broker(settings).start()
    env = {"KGP_STORE": "falkordb", "KGP_HOME": str(settings.home), "KGP_FALKORDB_PORT": str(settings.falkordb_port),
           "KGP_GRAPH": settings.graph, "KGP_BROKER_URL": settings.embedded_broker_url(db),
           "KGP_RESULT_BACKEND": settings.embedded_broker_url(db + 1), "KGP_SCORE_SHARDS": "2"}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def client_settings(env: dict[str, str]) -> Settings:
    return Settings(**env)


def flush_broker(env: dict[str, str]) -> None:
    for url in (env["KGP_BROKER_URL"], env["KGP_RESULT_BACKEND"]):
        redis.Redis.from_url(url).flushdb()


def wait_for(settings: Settings, job_id: str, until, timeout: float = 240, poll: float = 0.1):
    """Poll job status until until(status) holds; returns (status, every distinct (state, step) seen)."""
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = jobs.job_status(settings, job_id)
        key = (status["state"], status["step"])
        if not seen or seen[-1] != key:
            seen.append(key)
        if until(status):
            return status, seen
        time.sleep(poll)
    raise AssertionError(f"job {job_id} did not get there in {timeout} s; last status {status}; seen {seen}")


def ended(status: dict) -> bool:
    return status["state"] in jobs.TERMINAL
