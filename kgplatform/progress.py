"""Progress reporting shared by the CLI (rich bars) and workers (Celery update_state)."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

ProgressFn = Callable[[str, int, int], None]


class RichProgress:
    """Callable progress sink: one bar per stage name, created on first use."""

    def __init__(self, console=None, enabled: bool = True):
        self._bars = Progress(TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(),
                              TimeElapsedColumn(), console=console, disable=not enabled, transient=False)
        self._tasks: dict[str, int] = {}

    def __enter__(self):
        self._bars.start()
        return self

    def __exit__(self, *exc):
        self._bars.stop()

    def __call__(self, stage: str, current: int, total: int, info: dict | None = None) -> None:
        if stage not in self._tasks:
            self._tasks[stage] = self._bars.add_task(stage, total=max(total, 1))
        self._bars.update(self._tasks[stage], completed=current, total=max(total, 1))


class StageClock:
    """Wall-clock seconds per stage: call lap(name) when a stage ends."""

    def __init__(self):
        self.timings: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = round(now - self._last, 3)
        self._last = now
