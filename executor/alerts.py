"""Alerts raised outside Dagster (the executor, the ``make run`` supervisor), and the retry
policy of writes that a full disk can fail.

An alert has the shape the Dagster sensors write (``trading_pipelines.resources.alerts``): one
JSON line ``{"at", "severity", "title", "message"}`` appended to ``$TRADING_HOME/alerts.jsonl``
and, when ``TRADING_ALERT_WEBHOOK`` is set, ``{"text": "[severity] title: message"}`` POSTed
to it (Slack/Discord/Mattermost). Sending never raises: on a full disk the append fails and the
webhook and the caller's log line are what is left. The webhook URL is a secret, never logged.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import requests

from trading_core.timeframes import utc_now

ALERTS_FILE = "alerts.jsonl"
WEBHOOK_ENV = "TRADING_ALERT_WEBHOOK"

log = logging.getLogger("executor.alerts")


class Alerter:
    """Appends alerts to a JSONL file and, when the webhook variable is set, POSTs them."""

    def __init__(self, path: Path, *, webhook_env: str = WEBHOOK_ENV, timeout: float = 5.0):
        self.path = path
        self.webhook_env = webhook_env
        self.timeout = timeout

    @classmethod
    def for_home(cls, home: Path) -> Alerter:
        """The alerts of one TRADING_HOME: ``<home>/alerts.jsonl``, as the sensors write."""
        return cls(home / ALERTS_FILE)

    def send(self, severity: str, title: str, message: str, at: datetime | None = None) -> bool:
        """Record the alert; True when the file or the webhook took it. Never raises."""
        record = {
            "at": (at or utc_now()).isoformat(),
            "severity": severity,
            "title": title,
            "message": message,
        }
        delivered = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as handle:
                handle.write(json.dumps(record) + "\n")
            delivered = True
        except OSError as exc:
            log.error(
                "could not append the alert", extra={"path": str(self.path), "error": str(exc)}
            )
        webhook = os.environ.get(self.webhook_env)
        if webhook:
            try:
                response = requests.post(
                    webhook, json={"text": f"[{severity}] {title}: {message}"}, timeout=self.timeout
                )
                delivered = delivered or response.ok
            except requests.RequestException as exc:
                # The exception text names the URL, a secret: log only its kind.
                log.error("alert webhook failed", extra={"error": type(exc).__name__})
        return delivered


class RetryingWrite:
    """A write that may fail (ENOSPC, EIO, a read-only remount) and is retried with backoff.

    ``due()`` says whether to attempt it now: always while it succeeds; after a failure the
    next attempts come 1, 2, 4 ... seconds later, capped at ``maximum``, so a tick never
    waits on a broken disk. The first failure of an episode is logged at error level and
    alerted; the success that ends it logs ``recovered`` and sends an info alert.
    """

    def __init__(
        self,
        what: str,
        logger: logging.Logger,
        alerter: Alerter | None = None,
        *,
        initial: float = 1.0,
        maximum: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.what = what
        self.log = logger
        self.alerter = alerter
        self.initial = initial
        self.maximum = maximum
        self._monotonic = monotonic
        self._delay = initial
        self._retry_at = 0.0
        self._since: float | None = None
        self.failures = 0
        self.error: str | None = None

    @property
    def failing(self) -> bool:
        return self._since is not None

    def due(self) -> bool:
        return self._monotonic() >= self._retry_at

    def failed(self, exc: BaseException) -> None:
        now = self._monotonic()
        self.failures += 1
        self.error = f"{type(exc).__name__}: {exc}"
        self._retry_at = now + self._delay
        retry_in = self._delay
        self._delay = min(self._delay * 2, self.maximum)
        if self._since is not None:
            return
        self._since = now
        message = f"{self.what} failed ({self.error}); retrying with backoff"
        self.log.error(message, extra={"error": self.error, "retry_in_seconds": retry_in})
        if self.alerter is not None:
            self.alerter.send("critical", f"executor: {self.what} failing", message)

    def succeeded(self) -> None:
        if self._since is None:
            return
        down = self._monotonic() - self._since
        message = f"{self.what} recovered after {down:.0f} s and {self.failures} failed attempts"
        self.log.info(message, extra={"down_seconds": round(down, 1), "failures": self.failures})
        if self.alerter is not None:
            self.alerter.send("info", f"executor: {self.what} recovered", message)
        self._since = None
        self._delay = self.initial
        self._retry_at = 0.0
        self.failures = 0
        self.error = None
