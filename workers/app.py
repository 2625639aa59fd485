"""The Celery app: broker and results on Redis.

Default: the embedded FalkorDB's own redis-server, on logical databases 1 and 2 (the graph lives in 0).
Production: the `redis` service of docker-compose.yml via KGP_BROKER_URL / KGP_RESULT_BACKEND.
"""

from __future__ import annotations

import os

from celery import Celery

from kgplatform.settings import Settings


def broker_urls(settings: Settings) -> tuple[str, str]:
    base = f"redis://{settings.falkordb_host}:{settings.falkordb_port}"
    return (os.environ.get("KGP_BROKER_URL", f"{base}/1"), os.environ.get("KGP_RESULT_BACKEND", f"{base}/2"))


broker, backend = broker_urls(Settings())
app = Celery("kgplatform", broker=broker, backend=backend)
app.conf.update(
    task_acks_late=True,  # a task whose worker dies is redelivered
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,  # long tasks: never hoard messages
    task_track_started=True,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_routes={"workers.tasks.train": {"queue": "gpu"}, "workers.tasks.*": {"queue": "cpu"}},
)
