"""A `kgp worker` in a child process: for benchmarks and tests that need real worker processes to start and die.

Started in a session of its own, so that kill() takes the whole prefork pool down at once, as a lost machine would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


class WorkerProcess:
    def __init__(self, env: dict[str, str], log_path: Path, queues: str = "cpu,gpu", concurrency: int = 1,
                 celery_cli: bool = False, beat: bool = False):
        """celery_cli: start it as `celery -A workers worker` instead of `kgp worker` (both must work);
        beat: run the beat schedule inside the worker too (`kgp worker --beat`)."""
        self.env, self.log_path, self.queues, self.concurrency = env, Path(log_path), queues, concurrency
        self.celery_cli, self.beat = celery_cli, beat
        self.proc: subprocess.Popen | None = None
        self._log = None

    def start(self, timeout: float = 90) -> "WorkerProcess":
        """Start and wait until Celery logs that the worker is ready to consume."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        offset = self.log_path.stat().st_size
        if self.celery_cli:
            command = ["-m", "celery", "-A", "workers", "worker", "-Q", self.queues, "-c", str(self.concurrency),
                       "-l", "INFO", "-E", "-n", f"celery-{os.getpid()}-{time.monotonic_ns()}@%h"]
        else:
            command = ["-m", "kgplatform.cli", "worker", "--queues", self.queues,
                       "--concurrency", str(self.concurrency), "--loglevel", "INFO"] + (["--beat"] if self.beat else [])
        self.proc = subprocess.Popen(
            [sys.executable, *command], env={**os.environ, **self.env}, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if b" ready." in self.log_path.read_bytes()[offset:]:
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.tail()}")
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"worker not ready after {timeout} s:\n{self.tail()}")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL the worker and its pool: no cleanup and no acknowledgement."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL if it does not end within 30 s."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._log:
            self._log.close()
            self._log = None

    def __enter__(self) -> "WorkerProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
