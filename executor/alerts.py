"""The one alert module: every process that sees an event (the executor, the ``make run``
supervisor, the Telegram bot, Dagster sensors) sends its alerts through ``Alerter``, so an
alert never depends on Dagster being alive. Also the retry policy of writes a full disk fails.

An alert has a level (INFO < WARNING < CRITICAL < EMERGENCY, any case; stored lower case), a
title and a message. ``Alerter.send`` appends it as one JSON line ``{"at", "severity",
"title", "message"}`` to ``$TRADING_HOME/alerts.jsonl`` (always: the file is the record) and
sends it to each configured remote channel whose minimum level it reaches
(``executor.alert_channels``: webhook, Telegram, apprise). Remote sends are de-duplicated
(the same key within ``alerts.dedup_seconds`` goes out once; the repeats are counted into the
next one) and rate-limited (``alerts.max_alerts_per_minute`` per process; EMERGENCY is never
held back). Held-back alerts are still in the file and logged. Sending never raises. Secrets
(the webhook, the bot token, apprise URLs) come from the environment at send time, are never
logged, and never appear in a channel's name.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

from executor.alert_channels import (
    Alert,
    AppriseChannel,
    Channel,
    ChannelAnswer,
    TelegramChannel,
    WebhookChannel,
    wants,
)
from executor.secrets import SecretError, read_secret
from trading_core.config_alerts import ALERT_LEVELS, AlertsConfig
from trading_core.timeframes import utc_now

ALERTS_FILE = "alerts.jsonl"
WEBHOOK_ENV = "TRADING_ALERT_WEBHOOK"
TELEGRAM_TOKEN_ENV = "TRADING_TELEGRAM_TOKEN"
APPRISE_URLS_ENV = "TRADING_ALERT_APPRISE_URLS"

log = logging.getLogger("executor.alerts")


def normalize_level(severity: str) -> str:
    """``severity`` in lower case if it is a level; unknown ones become ``critical`` (an alert
    is never lost to a typo) with an error log naming the allowed levels."""
    lower = str(severity).lower()
    if lower.upper() in ALERT_LEVELS:
        return lower
    log.error(
        "unknown alert level, sent as critical",
        extra={"severity": str(severity)[:40], "allowed": list(ALERT_LEVELS)},
    )
    return "critical"


def alerts_config() -> AlertsConfig:
    """The process's ``alerts`` section; the defaults when the configuration does not load
    (an alert about a broken configuration must still go out)."""
    from trading_core.config import ConfigError, get_config

    try:
        return get_config().alerts
    except ConfigError as exc:
        log.error("alerts use their defaults: the configuration does not load: %s", exc)
        return AlertsConfig()


def remote_channels(
    settings: AlertsConfig,
    environ: Mapping[str, str] | None = None,
    *,
    webhook_env: str = WEBHOOK_ENV,
    timeout: float | None = None,
) -> list[Channel]:
    """The channels the environment and ``settings`` configure (none: the file only). A
    malformed secret is logged by name (never by value) and its channel left out."""
    env = dict(os.environ if environ is None else environ)
    wait = settings.timeout_seconds if timeout is None else timeout
    channels: list[Channel] = []
    webhook = env.get(webhook_env, "").strip()
    if webhook:
        channels.append(WebhookChannel(webhook, min_level=settings.webhook_min_level, timeout=wait))
    try:
        token = read_secret(TELEGRAM_TOKEN_ENV, env)
    except SecretError as exc:
        log.error("telegram alerts are off: %s", exc)
        token = None
    if token and settings.telegram_chat_ids:
        channels.append(
            TelegramChannel(
                settings.telegram_api_url,
                token,
                settings.telegram_chat_ids,
                min_level=settings.telegram_min_level,
                timeout=wait,
            )
        )
    raw = env.get(APPRISE_URLS_ENV, "")
    for url in (part.strip() for part in raw.split(",")):
        if url:
            channels.append(AppriseChannel(url, min_level=settings.apprise_min_level))
    return channels


class _Gate:
    """De-duplication and rate limit of remote sends, shared by a process's Alerters."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.last_sent: dict[str, float] = {}
        self.repeats: dict[str, int] = {}
        self.sent_at: deque[float] = deque()

    def admit(
        self, key: str, severity: str, now: float, dedup: float, per_minute: int
    ) -> tuple[str | None, int]:
        """(None, repeats folded in) when the alert may go out, else (why not, 0)."""
        with self.lock:
            last = self.last_sent.get(key)
            if last is not None and now - last < dedup:
                self.repeats[key] = self.repeats.get(key, 0) + 1
                return f"duplicate of an alert sent {now - last:.0f} s ago", 0
            while self.sent_at and now - self.sent_at[0] >= 60.0:
                self.sent_at.popleft()
            if severity != "emergency" and len(self.sent_at) >= per_minute:
                return f"rate limit of {per_minute} alerts per minute", 0
            self.sent_at.append(now)
            self.last_sent[key] = now
            return None, self.repeats.pop(key, 0)


_GATE = _Gate()


class Alerter:
    """Appends alerts to a JSONL file and sends them to every configured remote channel.

    ``channels`` fixes the remote channels; by default they are read from the environment
    and ``settings`` (default: the process configuration) at every send, so a variable set
    after start-up counts.
    """

    def __init__(
        self,
        path: Path,
        *,
        webhook_env: str = WEBHOOK_ENV,
        timeout: float = 5.0,
        settings: AlertsConfig | None = None,
        channels: list[Channel] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.path = path
        self.webhook_env = webhook_env
        self.timeout = timeout
        self._settings = settings
        self._channels = channels
        self._monotonic = monotonic
        self._gate = _GATE if channels is None else _Gate()
        self.last_answers: list[ChannelAnswer] = []

    @classmethod
    def for_home(cls, home: Path) -> Alerter:
        """The alerts of one TRADING_HOME: ``<home>/alerts.jsonl``, as the sensors write."""
        return cls(home / ALERTS_FILE)

    @property
    def settings(self) -> AlertsConfig:
        if self._settings is None:
            self._settings = alerts_config()
        return self._settings

    def channels(self) -> list[Channel]:
        if self._channels is not None:
            return self._channels
        return remote_channels(self.settings, webhook_env=self.webhook_env, timeout=self.timeout)

    def send(
        self,
        severity: str,
        title: str,
        message: str,
        at: datetime | None = None,
        *,
        key: str | None = None,
    ) -> bool:
        """Record the alert; True when the file or a channel took it. Never raises."""
        try:
            return self._send(normalize_level(severity), title, message, at, key)
        except Exception:  # an alert must never stop the caller's loop
            log.exception("sending an alert crashed")
            return False

    def _send(
        self, severity: str, title: str, message: str, at: datetime | None, key: str | None
    ) -> bool:
        delivered = self._append(severity, title, message, at)
        channels = self.channels()
        self.last_answers = []
        if not channels:
            return delivered
        settings = self.settings
        held, repeats = self._gate.admit(
            key or f"{severity}|{title}",
            severity,
            self._monotonic(),
            settings.dedup_seconds,
            settings.max_alerts_per_minute,
        )
        if held is not None:
            log.info("alert kept to the file", extra={"title": title, "why": held})
            return delivered
        if repeats:
            message = f"{message} (repeated {repeats} more time(s) since the last one sent)"
        alert = Alert(severity, title, message)
        self.last_answers = self.deliver(alert, channels)
        return delivered or any(answer.ok for answer in self.last_answers)

    def deliver(self, alert: Alert, channels: list[Channel] | None = None) -> list[ChannelAnswer]:
        """Send ``alert`` to each channel whose minimum level it reaches (no de-duplication,
        no rate limit: ``trading alerts test`` uses it directly)."""
        answers = []
        for channel in self.channels() if channels is None else channels:
            if not wants(channel, alert):
                continue
            answer = channel.send(alert)
            answers.append(answer)
            if not answer.ok:
                log.error(
                    "alert channel refused",
                    extra={"channel": answer.channel, "detail": answer.detail[:200]},
                )
        return answers

    def _append(self, severity: str, title: str, message: str, at: datetime | None) -> bool:
        record = {
            "at": (at or utc_now()).isoformat(),
            "severity": severity,
            "title": title,
            "message": message,
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as handle:
                handle.write(json.dumps(record) + "\n")
            return True
        except OSError as exc:
            log.error(
                "could not append the alert", extra={"path": str(self.path), "error": str(exc)}
            )
            return False


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
