"""SIGINT/SIGTERM reach the stop event, even while the main thread waits on it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from trading_core.stop_signals import stop_on_signals

# A main thread that spends nearly all its time inside Event.wait() while signals arrive:
# the situation in which a handler calling Event.set() blocks on the Event's own lock (a
# lone SIGTERM then hangs the process; under a storm the nested handlers overflow the stack).
HAMMER = textwrap.dedent(
    """
    import os, signal, threading, time
    from trading_core.stop_signals import stop_on_signals

    def storm(event, seconds):
        done = threading.Event()
        def hammer():
            while not done.is_set():
                os.kill(os.getpid(), signal.SIGUSR1)
                time.sleep(0)
        thread = threading.Thread(target=hammer, daemon=True)
        thread.start()
        end, woken = time.monotonic() + seconds, 0
        while time.monotonic() < end:
            if event.wait(0.00001):
                event.clear()
                woken += 1
        done.set()
        thread.join()
        return woken

    event = threading.Event()
    with stop_on_signals(event, (signal.SIGUSR1,)):
        woken = storm(event, 2.0)
    print("done", woken)
    """
)


def test_sigterm_sets_the_event_and_handlers_are_restored() -> None:
    before = signal.getsignal(signal.SIGTERM)
    before_fd = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(before_fd)
    with stop_on_signals(threading.Event()) as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(5.0)
    assert signal.getsignal(signal.SIGTERM) is before
    assert signal.set_wakeup_fd(before_fd) == before_fd


def test_sigint_sets_the_event_instead_of_raising_keyboardinterrupt() -> None:
    with stop_on_signals(threading.Event()) as stop:
        os.kill(os.getpid(), signal.SIGINT)
        deadline = time.monotonic() + 5.0
        while not stop.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert stop.is_set()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_signal_not_asked_for_leaves_the_event_unset() -> None:
    with stop_on_signals(threading.Event(), (signal.SIGTERM,)) as stop:
        previous = signal.signal(signal.SIGUSR2, lambda *_: None)
        try:
            os.kill(os.getpid(), signal.SIGUSR2)
            assert not stop.wait(0.3)
        finally:
            signal.signal(signal.SIGUSR2, previous)


def test_the_watcher_thread_ends_with_the_block() -> None:
    with stop_on_signals(threading.Event()):
        assert any(t.name == "stop-signals" for t in threading.enumerate())
    time.sleep(0.05)
    assert not any(t.name == "stop-signals" for t in threading.enumerate())


# The race made deterministic: the signal lands while the main thread holds the Event's
# lock, as it does inside Event.wait() between its checks.
INSIDE_WAIT = textwrap.dedent(
    """
    import contextlib, signal, sys, threading
    from trading_core.stop_signals import stop_on_signals

    event = threading.Event()
    if sys.argv[1] == "lambda":
        signal.signal(signal.SIGUSR1, lambda *_: event.set())
        block = contextlib.nullcontext()
    else:
        block = stop_on_signals(event, (signal.SIGUSR1,))
    with block:
        with event._cond:
            signal.raise_signal(signal.SIGUSR1)  # a Python handler runs here, lock held
            sum(range(1000))
        assert event.wait(10)
    print("done")
    """
)


def _run(script: str, kind: str, timeout: float) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(
            [sys.executable, "-c", script, kind], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return None


def test_a_signal_while_the_main_thread_holds_the_events_lock() -> None:
    """The old handler (Event.set() inside the handler) hangs for good here: the control
    proves the test can fail. The pipe and its watcher thread set the event once the main
    thread lets go of the lock."""
    assert _run(INSIDE_WAIT, "lambda", timeout=5.0) is None, "the control did not hang"
    fixed = _run(INSIDE_WAIT, "pipe", timeout=30.0)
    assert fixed is not None, "stop_on_signals deadlocked"
    assert (fixed.returncode, fixed.stdout.strip()) == (0, "done"), fixed.stderr[-2000:]


@pytest.mark.slow
def test_a_signal_storm_during_event_waits_wakes_the_waiter_every_time() -> None:
    fixed = _run(HAMMER, "pipe", timeout=60.0)
    assert fixed is not None, "stop_on_signals deadlocked under a signal storm"
    assert fixed.returncode == 0, fixed.stderr[-2000:]
    word, woken = fixed.stdout.split()
    assert word == "done" and int(woken) > 10
