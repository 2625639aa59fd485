"""A Celery broker and result backend of its own for each test worker, inside the embedded broker's Redis."""

from __future__ import annotations

import itertools

import redis

from kgplatform.graph.store import embedded_broker
from kgplatform.settings import Settings

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
