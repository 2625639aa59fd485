"""Wall time and peak resident memory by stage, sampled from /proc while the stage runs (psutil)."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import psutil


class StageMeter:
    """Samples the RSS of this process (with its children) and of the store's server every `every_s` seconds;
    `with meter.stage(name):` records the stage's wall time and the peaks seen while it ran."""

    def __init__(self, server_pid: int | None = None, every_s: float = 0.05):
        self._me = psutil.Process()
        self._server = psutil.Process(server_pid) if server_pid else None
        self._every_s = every_s
        self._lock = threading.Lock()
        self._peak_me = self._peak_server = 0
        self.stages: dict[str, dict] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="kgp-rss", daemon=True)
        self._thread.start()

    def _rss(self) -> tuple[int, int]:
        mine = self._me.memory_info().rss
        for child in self._me.children(recursive=True):
            try:
                mine += child.memory_info().rss
            except psutil.Error:
                pass  # it ended between the listing and the read
        server = self._server.memory_info().rss if self._server is not None else 0
        return mine, server

    def _sample(self) -> None:
        while not self._stop.wait(self._every_s):
            try:
                mine, server = self._rss()
            except psutil.Error:
                continue
            with self._lock:
                self._peak_me, self._peak_server = max(self._peak_me, mine), max(self._peak_server, server)

    @contextmanager
    def stage(self, name: str):
        with self._lock:
            self._peak_me, self._peak_server = self._rss()
        started = time.perf_counter()
        try:
            yield
        finally:
            seconds = time.perf_counter() - started
            with self._lock:
                self.stages[name] = {"wall_s": round(seconds, 2), "peak_rss_gb": round(self._peak_me / 2**30, 3),
                                     "store_rss_gb": round(self._peak_server / 2**30, 3)}

    def peak_gb(self) -> float:
        return max((s["peak_rss_gb"] for s in self.stages.values()), default=0.0)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
