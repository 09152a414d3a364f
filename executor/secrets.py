"""Exchange API keys from the environment or secret files, never from config or arguments.

``TRADING_API_KEY`` / ``TRADING_API_SECRET`` hold the values; ``TRADING_API_KEY_FILE`` /
``TRADING_API_SECRET_FILE`` name files holding them (Docker/Kubernetes secrets). Surrounding
whitespace (a file's trailing newline) is stripped; what is left must look like a key:
printable ASCII without whitespace, ``MIN_SECRET_LENGTH`` to ``MAX_SECRET_LENGTH``
characters. Errors name the variable and the rule, never the value. The keys' ``repr`` hides
them, so they cannot reach a log by accident.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

# Shorter values are no real exchange key, and redacting them would mangle every log line.
MIN_SECRET_LENGTH = 8
MAX_SECRET_LENGTH = 512


class SecretError(ValueError):
    """Keys are missing or malformed; the message names the variables to set."""


@dataclass(frozen=True)
class ApiKeys:
    api_key: str = field(repr=False)
    secret: str = field(repr=False)

    def values(self) -> list[str]:
        return [self.api_key, self.secret]


def validate_secret(name: str, value: str) -> str:
    """``value`` if it can be an exchange key; a ``SecretError`` naming ``name`` otherwise."""
    if not MIN_SECRET_LENGTH <= len(value) <= MAX_SECRET_LENGTH:
        raise SecretError(
            f"{name} has {len(value)} characters; an exchange key or secret has "
            f"{MIN_SECRET_LENGTH} to {MAX_SECRET_LENGTH}"
        )
    if not all("!" <= char <= "~" for char in value):
        raise SecretError(
            f"{name} contains whitespace or a character that is not printable ASCII; "
            "copy the key again as the exchange shows it"
        )
    return value


def read_secret(name: str, environ: dict[str, str] | os._Environ[str]) -> str | None:
    """The secret ``name`` from ``environ``, given as ``NAME`` or as a file named by
    ``NAME_FILE`` (not both), stripped and validated; None when neither is set."""
    value = environ.get(name)
    file = environ.get(f"{name}_FILE")
    if value and file:
        raise SecretError(f"set either {name} or {name}_FILE, not both")
    if file:
        path = Path(file)
        if not path.is_file():
            raise SecretError(f"{name}_FILE points to {path}, which is not a file")
        try:
            value = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise SecretError(f"{name}_FILE {path} cannot be read: {type(exc).__name__}") from None
        name = f"{name}_FILE {path}"
    value = (value or "").strip()
    return validate_secret(name, value) if value else None


def load_api_keys(environ: dict[str, str] | os._Environ[str] | None = None) -> ApiKeys | None:
    """The keys, or None when neither is set."""
    env = os.environ if environ is None else environ
    key, secret = read_secret("TRADING_API_KEY", env), read_secret("TRADING_API_SECRET", env)
    if key is None and secret is None:
        return None
    if key is None or secret is None:
        missing = "TRADING_API_KEY" if key is None else "TRADING_API_SECRET"
        raise SecretError(f"{missing} (or {missing}_FILE) is not set; both keys are needed")
    return ApiKeys(key, secret)


def require_keys(mode: str, keys: ApiKeys | None) -> ApiKeys:
    """The keys an exchange mode (testnet, live) cannot run without."""
    if keys is None:
        raise SecretError(
            f"{mode} mode needs exchange keys: set TRADING_API_KEY and TRADING_API_SECRET "
            "(or the *_FILE variants)"
        )
    return keys
