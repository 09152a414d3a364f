"""Periodic tasks of the supervisor, in one background thread: a task that raises is logged
and tried again at its next turn, and never stops the supervision of the children."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

log = logging.getLogger("trading_pipelines.supervisor")


@dataclass(frozen=True)
class PeriodicTask:
    name: str
    every: float  # seconds between the end of one turn and the start of the next
    run: Callable[[], object]


class PeriodicRunner:
    """Runs each task at once, then every ``task.every`` seconds, until ``stop()``."""

    def __init__(self, tasks: Sequence[PeriodicTask], clock: Callable[[], float] = time.monotonic):
        for task in tasks:
            if not task.every > 0:
                raise ValueError(f"task {task.name}: every must be positive, got {task.every}")
        self.tasks = list(tasks)
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="upkeep", daemon=True)
        self.turns: dict[str, int] = {task.name: 0 for task in self.tasks}

    def start(self) -> None:
        if self.tasks:
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the turn in progress (waiting at most ``timeout`` seconds for it)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        due = {task.name: self._clock() for task in self.tasks}
        while not self._stop.is_set():
            for task in self.tasks:
                if self._stop.is_set() or self._clock() < due[task.name]:
                    continue
                try:
                    task.run()
                except Exception:
                    log.exception(f"upkeep task {task.name} failed; next try in {task.every:g} s")
                self.turns[task.name] += 1
                due[task.name] = self._clock() + task.every
            self._stop.wait(max(0.0, min(due.values()) - self._clock()))
