"""Exchange API keys from the environment or secret files, never from config or arguments.

``TRADING_API_KEY`` / ``TRADING_API_SECRET`` hold the values; ``TRADING_API_KEY_FILE`` /
``TRADING_API_SECRET_FILE`` name files holding them (Docker/Kubernetes secrets). The keys'
``repr`` hides them, so they cannot reach a log by accident.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


class SecretError(ValueError):
    """Keys are missing or inconsistent; the message names the variables to set."""


@dataclass(frozen=True)
class ApiKeys:
    api_key: str = field(repr=False)
    secret: str = field(repr=False)

    def values(self) -> list[str]:
        return [self.api_key, self.secret]


def _read(name: str, environ: dict[str, str] | os._Environ[str]) -> str | None:
    value = environ.get(name)
    file = environ.get(f"{name}_FILE")
    if value and file:
        raise SecretError(f"set either {name} or {name}_FILE, not both")
    if file:
        path = Path(file)
        if not path.is_file():
            raise SecretError(f"{name}_FILE points to {path}, which is not a file")
        return path.read_text().strip() or None
    return value or None


def load_api_keys(environ: dict[str, str] | os._Environ[str] | None = None) -> ApiKeys | None:
    """The keys, or None when neither is set."""
    env = os.environ if environ is None else environ
    key, secret = _read("TRADING_API_KEY", env), _read("TRADING_API_SECRET", env)
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
