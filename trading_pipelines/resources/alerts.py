"""Alerts: appended to TRADING_HOME/alerts.jsonl and, when configured, POSTed to a webhook
(Slack/Discord/Mattermost-compatible ``{"text": ...}``). The webhook URL is a secret: it comes
from the environment (TRADING_ALERT_WEBHOOK) and is never logged."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import dagster as dg
import requests

from trading_core.timeframes import utc_now


class AlertResource(dg.ConfigurableResource):
    path: str
    # Name of the environment variable holding the webhook URL (read at send time, so the
    # secret never appears in resource config shown by the UI).
    webhook_env: str = "TRADING_ALERT_WEBHOOK"
    timeout_seconds: float = 5.0

    def send(self, severity: str, title: str, message: str, at: datetime | None = None) -> bool:
        """Record the alert; returns whether the webhook (if any) accepted it."""
        record = {
            "at": (at or utc_now()).isoformat(),
            "severity": severity,
            "title": title,
            "message": message,
        }
        target = Path(self.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        webhook = os.environ.get(self.webhook_env)
        if not webhook:
            return True
        try:
            response = requests.post(
                webhook,
                json={"text": f"[{severity}] {title}: {message}"},
                timeout=self.timeout_seconds,
            )
            return response.ok
        except requests.RequestException:
            return False
