"""Where an alert goes besides ``alerts.jsonl``: the webhook, Telegram and apprise URLs.

Each channel sends one alert and answers a ``ChannelAnswer`` (its secret-free name, whether
the other side took it, and what it said). Sending never raises. Channel names never hold a
secret: the webhook and apprise URLs are shown redacted, the bot token never.

- **webhook** (``TRADING_ALERT_WEBHOOK``): ``{"text": "[severity] title: message"}`` POSTed
  (Slack/Discord/Mattermost-compatible).
- **telegram** (``TRADING_TELEGRAM_TOKEN`` + ``alerts.telegram_chat_ids``): Bot API
  ``sendMessage`` to each chat id, at ``alerts.telegram_api_url``.
- **apprise** (``TRADING_ALERT_APPRISE_URLS``, comma-separated): one apprise URL each
  (``mailtos://``, ``discord://``, ``slack://``, ``json://`` ...).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from trading_core.config_alerts import level_rank

log = logging.getLogger("executor.alerts")


@dataclass(frozen=True)
class Alert:
    severity: str  # lower case: info | warning | critical | emergency
    title: str
    message: str

    @property
    def text(self) -> str:
        return f"[{self.severity}] {self.title}: {self.message}"


@dataclass(frozen=True)
class ChannelAnswer:
    channel: str
    ok: bool
    detail: str


class Channel(Protocol):
    name: str
    min_level: str

    def send(self, alert: Alert) -> ChannelAnswer: ...


def wants(channel: Channel, alert: Alert) -> bool:
    return level_rank(alert.severity) >= level_rank(channel.min_level)


def redact_url(url: str) -> str:
    """scheme://host/… : enough to tell channels apart, nothing that authenticates."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}/…"


class WebhookChannel:
    def __init__(self, url: str, *, min_level: str = "INFO", timeout: float = 5.0):
        self.url = url
        self.name = f"webhook {redact_url(url)}"
        self.min_level = min_level
        self.timeout = timeout

    def send(self, alert: Alert) -> ChannelAnswer:
        import requests  # lazy: ~0.1 s to import, paid only by a process that sends an alert

        try:
            response = requests.post(self.url, json={"text": alert.text}, timeout=self.timeout)
        except requests.RequestException as exc:
            # The exception text names the URL, a secret: keep only its kind.
            log.error("alert webhook failed", extra={"error": type(exc).__name__})
            return ChannelAnswer(self.name, False, type(exc).__name__)
        return ChannelAnswer(self.name, response.ok, f"HTTP {response.status_code}")


class TelegramChannel:
    """``sendMessage`` to every chat id; ok when every chat took it."""

    def __init__(
        self,
        api_url: str,
        token: str,
        chat_ids: list[int],
        *,
        min_level: str = "INFO",
        timeout: float = 5.0,
    ):
        self._endpoint = f"{api_url.rstrip('/')}/bot{token}/sendMessage"
        self.chat_ids = list(chat_ids)
        self.name = f"telegram {urlsplit(api_url).hostname} ({len(chat_ids)} chat(s))"
        self.min_level = min_level
        self.timeout = timeout

    def send(self, alert: Alert) -> ChannelAnswer:
        import requests  # lazy: ~0.1 s to import, paid only by a process that sends an alert

        answers = []
        for chat_id in self.chat_ids:
            try:
                response = requests.post(
                    self._endpoint,
                    json={"chat_id": chat_id, "text": alert.text},
                    timeout=self.timeout,
                )
                body = response.json() if response.content else {}
                ok = response.ok and isinstance(body, dict) and body.get("ok") is True
                description = body.get("description") if isinstance(body, dict) else None
                answers.append(
                    (ok, f"{chat_id}: {'ok' if ok else description or response.status_code}")
                )
            except (requests.RequestException, ValueError) as exc:
                # The URL holds the token: log and answer only the exception's kind.
                log.error("telegram alert failed", extra={"error": type(exc).__name__})
                answers.append((False, f"{chat_id}: {type(exc).__name__}"))
        if not answers:
            return ChannelAnswer(self.name, False, "no chat ids configured")
        return ChannelAnswer(
            self.name, all(ok for ok, _ in answers), "; ".join(d for _, d in answers)
        )


class AppriseChannel:
    """One apprise URL (email, Discord, Slack, ... any service apprise knows)."""

    def __init__(self, url: str, *, min_level: str = "WARNING"):
        self.url = url
        self.name = f"apprise {redact_url(url)}"
        self.min_level = min_level

    def send(self, alert: Alert) -> ChannelAnswer:
        import apprise  # ~0.2 s to import: only processes that send through it pay

        notifier = apprise.Apprise()
        if not notifier.add(self.url):
            return ChannelAnswer(self.name, False, "apprise does not understand this URL")
        kinds = {
            "info": apprise.NotifyType.INFO,
            "warning": apprise.NotifyType.WARNING,
        }
        try:
            ok = bool(
                notifier.notify(
                    body=alert.message,
                    title=f"[{alert.severity}] {alert.title}",
                    notify_type=kinds.get(alert.severity, apprise.NotifyType.FAILURE),
                )
            )
        except Exception as exc:  # a plugin bug must not reach the executor loop
            log.error("apprise alert failed", extra={"error": type(exc).__name__})
            return ChannelAnswer(self.name, False, type(exc).__name__)
        return ChannelAnswer(self.name, ok, "sent" if ok else "apprise reported a failure")
