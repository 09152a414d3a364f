"""Alerts from Dagster sensors: the same alert as the executor and the supervisor raise
(``executor.alerts.Alerter``: a JSON line in TRADING_HOME/alerts.jsonl and, when configured,
a POST to a Slack/Discord/Mattermost-compatible webhook). The webhook URL is a secret: it comes
from the environment (TRADING_ALERT_WEBHOOK), never from resource config, and is never logged."""

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

    def send(self, severity: str, title: str, message: str, at: datetime | None = None) -> bool:
        """Record the alert; True when the file or the webhook took it. Never raises."""
        alerter = Alerter(
            Path(self.path), webhook_env=self.webhook_env, timeout=self.timeout_seconds
        )
        return alerter.send(severity, title, message, at)
