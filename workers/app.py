"""The Celery app: broker and results on Redis, routes, reliability settings and the beat schedule.

Default broker: the embedded broker, a password-protected redis-server of its own beside the embedded FalkorDB
(a long graph query would stall a shared server), logical databases 1 (messages) and 2 (results, job records,
locks). Production: the `redis` service of docker-compose.yml through
KGP_BROKER_URL / KGP_RESULT_BACKEND.
"""

from __future__ import annotations

from celery import Celery
from celery.signals import worker_init, worker_process_init

from kgplatform.graph.store import embedded_broker
from kgplatform.settings import Settings


def make_app(settings: Settings) -> Celery:
    app = Celery("kgplatform", broker=settings.broker, backend=settings.results, include=["workers.tasks"])
    app.conf.update(
        task_acks_late=True,  # acknowledged when done: a task whose worker dies is delivered again
        task_reject_on_worker_lost=True,  # ...also when only its pool process died
        worker_prefetch_multiplier=1,  # long tasks: never hoard messages another worker could run
        task_track_started=True,
        task_send_sent_event=True,
        worker_send_task_events=True,  # Flower sees the tasks (and their task-progress events)
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_extended=True,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout_s,
            # Look for unacknowledged messages of dead workers often enough to honour a short visibility timeout.
            "unacked_restore_interval": max(1, min(10, settings.visibility_timeout_s // 4)),
            "unacked_restore_throttle": 1,
        },
        result_backend_transport_options={"visibility_timeout": settings.visibility_timeout_s},
        task_default_queue="cpu",
        task_routes={"workers.tasks.train": {"queue": "gpu"}, "workers.tasks.rec_train": {"queue": "gpu"},
                     "workers.tasks.text_finetune": {"queue": "gpu"}, "workers.tasks.text_discover": {"queue": "gpu"},
                     "workers.tasks.*": {"queue": "cpu"}},
        beat_schedule=beat_schedule(settings),
    )
    return app


def beat_schedule(settings: Settings) -> dict:
    schedule = {
        # Reclaim a dead worker's tasks; release locks and mark runs of jobs that ended without their failure
        # handler (a lost worker). Often: a reclaim must not wait long after the grace.
        "reconcile-jobs": {"task": "workers.tasks.reconcile_jobs", "schedule": max(15.0, settings.reclaim_grace_s / 2)},
    }
    if settings.incremental_interval_s > 0:
        # New and changed nodes get their predicted links from the newest model (kgplatform/incremental/steps.py).
        schedule["score-new"] = {"task": "workers.tasks.score_new", "schedule": settings.incremental_interval_s}
    if settings.schedule_pipeline_hours > 0:
        schedule["complete-graph"] = {"task": "workers.tasks.scheduled_pipeline",
                                      "schedule": settings.schedule_pipeline_hours * 3600.0}
    if settings.schedule_recommend_hours > 0:
        # A fresh recommendation run on all behaviour so far, with the newest run's config (pipeline/recdrift.py).
        schedule["recommend-refresh"] = {"task": "workers.tasks.scheduled_recommend",
                                         "schedule": settings.schedule_recommend_hours * 3600.0}
    if settings.rec_drift_interval_s > 0:
        # Recall@20 on the newest behaviour vs the run's validation figure; a retrain when it fell by the margin.
        schedule["recommend-drift"] = {"task": "workers.tasks.rec_drift", "schedule": settings.rec_drift_interval_s}
    return schedule


app = make_app(Settings())


@worker_init.connect
def start_embedded_broker(**_) -> None:
    """`celery -A workers worker` on the default broker: the embedded broker must be up before connecting."""
    settings = Settings()
    if settings.broker_is_embedded:
        embedded_broker(settings).start()


@worker_process_init.connect
def limit_torch_threads(**_) -> None:
    threads = Settings().torch_threads
    if threads:
        import torch

        torch.set_num_threads(threads)
