"""A small process supervisor (what ``make run`` serves with): each child runs in its own
process group and is restarted when it exits, whatever the others do.

- A child that exits while the supervisor is not stopping is restarted after a backoff: 1 s,
  doubling up to 60 s, back to 1 s once a run lasted ``stable_after`` seconds. Each exit is a
  log line and an alert (``$TRADING_HOME/alerts.jsonl``, plus the webhook when configured)
  with the exit status and the last lines the child logged.
- A child that exits with its ``refusal_code`` (the executor's 2: a configuration error,
  another executor holding the ledger lease) refused to start: it is retried the same way and
  the alert says so, with the reason it logged.
- Leftovers of a crashed child's process group get SIGTERM at once and SIGKILL before the
  restart, so a restarted server finds its port free.
- Only ``stop()`` ends it (``supervise`` calls it on SIGINT/SIGTERM): first its
  ``before_stop`` hook (``make run``: cancel Dagster's queued runs and stop its started ones,
  ``trading_pipelines.shutdown``), then every group gets SIGTERM, ``stop_timeout`` seconds to
  finish (the executor completes its tick), then SIGKILL, then its ``after_stop`` hook.
- Meanwhile periodic ``tasks`` (``make run``: the watchdog and retention,
  ``trading_pipelines.upkeep``) run in a background thread; one that fails is logged.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from executor.alerts import Alerter
from trading_core.stop_signals import stop_on_signals
from trading_pipelines.periodic import PeriodicRunner, PeriodicTask

log = logging.getLogger("trading_pipelines.supervisor")

TAIL_BYTES = 4096
TAIL_LINES = 5


@dataclass(frozen=True)
class ChildSpec:
    name: str
    args: list[str]
    log: Path  # stdout and stderr, appended across restarts
    cwd: Path | None = None
    env: dict[str, str] | None = None
    refusal_code: int | None = None  # exit code meaning "refused to start"
    severity: str = "warning"  # of the alert when it exits


@dataclass(frozen=True)
class Backoff:
    initial: float = 1.0
    maximum: float = 60.0
    stable_after: float = 60.0  # a run at least this long resets the delay to ``initial``


@dataclass
class Child:
    spec: ChildSpec
    delay: float
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    restart_at: float = 0.0
    restarts: int = 0
    log_offset: int = 0  # where this run's output starts in the log
    leftover_group: int | None = None  # pgid of a crashed run, killed before the restart
    pids: list[int] = field(default_factory=list)  # of every run, oldest first


def exit_status(code: int | None) -> str:
    if code is None:
        return "could not start"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def log_tail(path: Path, offset: int = 0) -> list[str]:
    """The last non-empty lines written to ``path`` after ``offset`` (at most 4 KiB read)."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            if offset > size:  # rotated (copied and truncated) since the offset was taken
                offset = 0
            handle.seek(max(offset, size - TAIL_BYTES))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return []
    return [line.strip() for line in text.splitlines() if line.strip()][-TAIL_LINES:]


def refusal_reason(lines: list[str]) -> str | None:
    """``msg: reason`` of the last JSON log line with a ``reason`` (the executor's refusal)."""
    for line in reversed(lines):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("reason"):
            return ": ".join(str(entry[k]) for k in ("msg", "reason") if entry.get(k))
    return None


def _signal_group(pgid: int, sig: signal.Signals) -> bool:
    """Send ``sig`` to a process group; False when the group no longer exists."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    return True


class Supervisor:
    def __init__(
        self,
        specs: Sequence[ChildSpec],
        alerter: Alerter,
        *,
        backoff: Backoff | None = None,
        stop_timeout: float = 20.0,
        clock: Callable[[], float] = time.monotonic,
        tasks: Sequence[PeriodicTask] = (),
        before_stop: Callable[[], None] | None = None,
        after_stop: Callable[[], None] | None = None,
    ):
        self.backoff = backoff or Backoff()
        self.children = {s.name: Child(s, delay=self.backoff.initial) for s in specs}
        self.alerter = alerter
        self.stop_timeout = stop_timeout
        self._clock = clock
        self.tasks = PeriodicRunner(tasks)
        self._hooks = {"before_stop": before_stop, "after_stop": after_stop}

    def start(self) -> None:
        for child in self.children.values():
            self._spawn(child)

    def poll(self) -> None:
        """Notice exits and start the children whose restart is due."""
        now = self._clock()
        for child in self.children.values():
            if child.process is not None and child.process.poll() is not None:
                self._exited(child, child.process.returncode, now)
            elif child.process is None and now >= child.restart_at:
                self._spawn(child)

    def run(self, stop: threading.Event, interval: float = 0.2) -> None:
        """Start every child, keep them running until ``stop`` is set, then stop them."""
        try:
            self.start()
            self.tasks.start()
            while not stop.wait(interval):
                self.poll()
        finally:
            self.tasks.stop()
            self.stop()

    def stop(self) -> None:
        """``before_stop``, SIGTERM to every child's group, ``stop_timeout`` s to exit, then
        SIGKILL, then ``after_stop`` (each hook runs once; one that fails is logged)."""
        self._hook("before_stop")
        groups = [c.process.pid for c in self.children.values() if c.process is not None]
        groups += [c.leftover_group for c in self.children.values() if c.leftover_group]
        for pgid in groups:
            _signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for child in self.children.values():
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning(f"{child.spec.name} did not stop in {self.stop_timeout:.0f} s; killed")
        for pgid in groups:  # whatever is left of every group, leaders included
            _signal_group(pgid, signal.SIGKILL)
        for child in self.children.values():
            if child.process is not None:
                child.process.wait()
                child.process = None
        self._hook("after_stop")

    # --------------------------------------------------------------------------- private

    def _hook(self, name: str) -> None:
        hook = self._hooks.pop(name, None)
        if hook is None:
            return
        try:
            hook()
        except Exception:  # stopping the children matters more than a clean record
            log.exception(f"{name} failed")

    def _spawn(self, child: Child) -> None:
        spec = child.spec
        if child.leftover_group is not None:
            _signal_group(child.leftover_group, signal.SIGKILL)
            child.leftover_group = None
        now = self._clock()
        try:
            spec.log.parent.mkdir(parents=True, exist_ok=True)
            with spec.log.open("ab") as handle:
                child.log_offset = handle.tell()
                child.process = subprocess.Popen(
                    spec.args,
                    cwd=spec.cwd,
                    env=spec.env,
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: killpg reaches all of it
                )
        except OSError as exc:  # a full disk (the log), a missing binary
            log.error(f"{spec.name} could not start: {exc}")
            self._exited(child, None, now, error=str(exc))
            return
        child.started_at = now
        child.pids.append(child.process.pid)
        log.info(f"started {spec.name} (pid {child.process.pid})")

    def _exited(self, child: Child, code: int | None, now: float, error: str = "") -> None:
        spec = child.spec
        if child.process is not None:
            child.leftover_group = child.process.pid
            _signal_group(child.leftover_group, signal.SIGTERM)
        child.process = None
        ran = now - child.started_at if code is not None else 0.0
        if ran >= self.backoff.stable_after:
            child.delay = self.backoff.initial
        wait = child.delay
        child.delay = min(child.delay * 2, self.backoff.maximum)
        child.restart_at = now + wait
        child.restarts += 1
        tail = [error] if error else log_tail(spec.log, child.log_offset)
        refused = code is not None and code == spec.refusal_code
        if refused:
            title = f"{spec.name} refused to start"
            reason = refusal_reason(tail)
            what = f"{spec.name} refused to start ({exit_status(code)})" + (
                f": {reason}" if reason else ""
            )
        else:
            title = f"{spec.name} exited unexpectedly"
            what = f"{spec.name} exited unexpectedly ({exit_status(code)}) after {ran:.0f} s"
        message = f"{what}; restart {child.restarts} in {wait:g} s"
        log.error(message)
        if tail:
            message += ". Last log lines: " + " | ".join(tail)
        self.alerter.send(spec.severity, title, message[:2000])


def supervise(
    specs: Sequence[ChildSpec],
    alerter: Alerter,
    *,
    backoff: Backoff | None = None,
    stop_timeout: float = 20.0,
    tasks: Sequence[PeriodicTask] = (),
    before_stop: Callable[[], None] | None = None,
    after_stop: Callable[[], None] | None = None,
) -> int:
    """Run the children (and ``tasks``) until SIGINT or SIGTERM, then stop every one of them
    (see ``Supervisor.stop``); return 0."""
    with stop_on_signals(threading.Event()) as stop:
        Supervisor(
            specs,
            alerter,
            backoff=backoff,
            stop_timeout=stop_timeout,
            tasks=tasks,
            before_stop=before_stop,
            after_stop=after_stop,
        ).run(stop)
    return 0
