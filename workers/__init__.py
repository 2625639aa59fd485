"""The Celery app of kgplatform and its thin tasks: run them with `celery -A workers worker` or `kgp worker`."""

from workers.app import app

__all__ = ["app"]
