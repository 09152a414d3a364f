"""Turn SIGINT/SIGTERM into a ``threading.Event`` without a deadlock.

The obvious ``signal.signal(sig, lambda *_: stop.set())`` can hang a process for good:
Python runs a signal handler in the main thread between two bytecodes, and when the signal
lands while the main thread is inside ``stop.wait(...)`` it already holds the Event's
condition lock, which ``Event.set()`` takes again; the lock is not reentrant, so the
handler waits on itself (CPython issue #126434). That made the executor ignore a SIGTERM
now and then.

Here the handler does nothing in Python: ``signal.set_wakeup_fd`` has the interpreter's C
handler write the signal number to a pipe, and a daemon thread that reads the pipe sets the
event. The thread holds no lock the main thread can be holding when it blocks.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)


def _noop(_signum: int, _frame: FrameType | None) -> None:
    """Replaces the default action (KeyboardInterrupt, termination); the pipe carries it."""


def _watch(read_fd: int, stop: threading.Event, wanted: frozenset[int]) -> None:
    while True:
        try:
            data = os.read(read_fd, 64)
        except OSError:  # the pipe was closed: the context has exited
            return
        if not data:
            return
        if any(byte in wanted for byte in data):
            stop.set()


@contextmanager
def stop_on_signals(
    stop: threading.Event, signals: Iterable[signal.Signals] = STOP_SIGNALS
) -> Iterator[threading.Event]:
    """Within the block, each of ``signals`` sets ``stop`` (from a watcher thread, never
    inside the signal handler). Must be entered in the main thread; restores the previous
    handlers and wakeup fd on exit."""
    wanted = tuple(signals)
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)  # the C handler must never block on a full pipe
    previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    previous = {sig: signal.signal(sig, _noop) for sig in wanted}
    watcher = threading.Thread(
        target=_watch,
        args=(read_fd, stop, frozenset(int(s) for s in wanted)),
        name="stop-signals",
        daemon=True,
    )
    watcher.start()
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(previous_fd)
        os.close(write_fd)  # the watcher reads EOF and returns
        watcher.join(timeout=1.0)
        os.close(read_fd)
