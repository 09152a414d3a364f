"""Credentials for live sources come from the environment, never from code or configuration."""

from __future__ import annotations

from collections.abc import Mapping

from trading_core.config import ConfigError


def require_env(environ: Mapping[str, str], name: str, purpose: str) -> str:
    """The value of ``name``; a :class:`ConfigError` saying what needs it when it is unset."""
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"{purpose} needs the environment variable {name} (it is not set)")
    return value
