"""Celery workers of kgplatform (`celery -A workers worker`). The task set is filled by the worker-jobs issue."""

from .app import app

__all__ = ["app"]
