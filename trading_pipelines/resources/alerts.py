"""Alerts from Dagster sensors through the one alert module (``executor.alerts.Alerter``),
the same as the executor, the supervisor and the Telegram bot use: a JSON line in
TRADING_HOME/alerts.jsonl and every configured remote channel (webhook, Telegram, apprise),
with its levels, de-duplication and rate limit. Secrets (webhook, bot token, apprise URLs)
come from the environment at send time, never from resource config, and are never logged."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import dagster as dg

from executor.alerts import WEBHOOK_ENV, Alerter


class AlertResource(dg.ConfigurableResource):
    path: str
    # Name of the environment variable holding the webhook URL (read at send time, so the
    # secret never appears in resource config shown by the UI).
    webhook_env: str = WEBHOOK_ENV
    timeout_seconds: float = 5.0

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
        alerter = Alerter(
            Path(self.path), webhook_env=self.webhook_env, timeout=self.timeout_seconds
        )
        return alerter.send(severity, title, message, at, key=key)
