"""One real worker process shared by the job tests of this folder that need no special settings (each test uses a
graph of its own); tests that kill or reconfigure a worker start their own."""

from __future__ import annotations

import pytest

from kgplatform.bench.worker_process import WorkerProcess
from tests.support.brokers import flush_broker, job_env


@pytest.fixture(scope="session")
def worker_env(base_settings, tmp_path_factory):
    """(env, worker): a `kgp worker` on cpu,gpu with a broker of its own. Session-scoped: the embedded server has
    16 logical databases, two per test broker, so the job test files share this one."""
    env = job_env(base_settings, KGP_WRITE_BATCH_SIZE=4, KGP_WRITE_PAUSE_S=0.05)
    worker = WorkerProcess(env, tmp_path_factory.mktemp("worker") / "worker.log").start()
    yield env, worker
    worker.stop()
    flush_broker(env)
