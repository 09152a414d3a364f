"""Structured JSON logs, one object per line, with secrets redacted from every line.

Redaction happens in the formatter, after the message, the extra fields and any traceback
are rendered, so a key cannot leak through an exception message or a library's log record.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

# Attributes every LogRecord has; anything else came in through `extra=`.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}

REDACTED = "***"


class JsonFormatter(logging.Formatter):
    def __init__(self, secrets: list[str] | None = None):
        super().__init__()
        # Longest first, so a secret containing another is replaced whole.
        self.secrets = sorted((s for s in secrets or [] if s), key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        line = json.dumps(entry, default=str, sort_keys=False)
        for secret in self.secrets:
            line = line.replace(secret, REDACTED)
        return line


def configure_logging(
    level: str = "INFO", secrets: list[str] | None = None, stream: IO[str] | None = None
) -> None:
    """Route every logger (ours, ccxt's, urllib3's) through one JSON handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
