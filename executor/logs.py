"""Structured JSON logs, one object per line, with secrets redacted from every line.

Redaction happens in the formatter, after the message, the extra fields and any traceback
are rendered, so a key cannot leak through an exception message or a library's log record.
Each secret is redacted in every form it can take on the line: as it is, JSON-escaped,
URL-encoded and ``repr``-escaped (exception texts). Values of authentication headers and
parameters (``X-MBX-APIKEY``, ``Authorization``, ``signature=`` ...) are redacted by name,
whatever they hold; and ccxt, which logs every request's headers at DEBUG, never logs below
INFO.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Any
from urllib.parse import quote, quote_plus

# Attributes every LogRecord has; anything else came in through `extra=`.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}

REDACTED = "***"
# A shorter fragment is never redacted: it would turn ordinary words into "***".
MIN_REDACTED_LENGTH = 8
# Loggers that write request headers at DEBUG.
HEADER_LOGGERS = ("ccxt",)

_AUTH_NAME = (
    r"[\w.-]*(?:api[-_]?key|api[-_]?sign|secret|passphrase|signature|authorization"
    r"|access[-_]?(?:key|sign|token))[\w.-]*"
)
# `'X-MBX-APIKEY': 'value'`, `"Authorization": "Bearer x"`, `signature=abc`: the value goes.
_AUTH_FIELD = re.compile(
    rf"""(?P<name>(?P<q>["']?){_AUTH_NAME}(?P=q)\s*[:=]\s*)"""
    r"""(?P<value>"[^"]*"|'[^']*'|(?:(?:bearer|basic|token)\s+)?[^\s,;&'"}\]]+)""",
    re.IGNORECASE,
)


def _redact_value(match: re.Match[str]) -> str:
    value = match["value"]
    quote_char = value[0] if value[0] in "'\"" else ""
    return f"{match['name']}{quote_char}{REDACTED}{quote_char}"


def redact_auth_fields(text: str) -> str:
    """``text`` with the value of every authentication header or parameter redacted."""
    return _AUTH_FIELD.sub(_redact_value, text)


def secret_forms(secret: str) -> set[str]:
    """Every form ``secret`` can take in a JSON log line, shortest fragments left out."""
    plain = {secret, secret.strip()}
    encoded = {f(s) for s in plain for f in (quote, quote_plus, lambda s: quote(s, safe=""))}
    # In an exception text (repr) or a JSON body a library logs.
    escaped = {e(s)[1:-1] for s in plain | encoded for e in (repr, json.dumps)}
    # Every string on the line is JSON-escaped once more.
    forms = {json.dumps(s)[1:-1] for s in plain | encoded | escaped}
    return {form for form in forms if len(form) >= MIN_REDACTED_LENGTH}


class JsonFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str] | None = None):
        super().__init__()
        forms = set().union(*(secret_forms(s) for s in secrets or [] if s))
        # Longest first, so a form containing another is replaced whole.
        self.forms = sorted(forms, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact_auth_fields(record.getMessage()),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exc"] = redact_auth_fields(self.formatException(record.exc_info))
        line = json.dumps(entry, default=str, sort_keys=False)
        for form in self.forms:
            line = line.replace(form, REDACTED)
        return line


def configure_logging(
    level: str = "INFO", secrets: Iterable[str] | None = None, stream: IO[str] | None = None
) -> None:
    """Route every logger (ours, ccxt's, urllib3's) through one JSON handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in HEADER_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.INFO, root.level))
