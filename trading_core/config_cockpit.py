"""The cockpit's settings (``cockpit:`` in trading.yaml): where it listens and whom it answers.

Safe by default: it binds to loopback, answers only requests whose ``Host`` header names an
allowed host (a DNS-rebinding page cannot reach it through a name it controls), and limits
each client to a token bucket of ``rate_limit_burst`` requests refilled at
``rate_limit_per_second``. Binding anywhere but loopback needs ``allow_remote_bind: true``;
reaching it from a phone goes through the Telegram bot or a tunnel (README), never an open
port. The write token is a secret (``TRADING_COCKPIT_TOKEN``), never part of this model.
"""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _valid_host_name(value: str) -> bool:
    try:
        ipaddress.ip_address(value.strip("[]"))
        return True
    except ValueError:
        labels = value.split(".")
        return 0 < len(value) <= 253 and all(
            0 < len(label) <= 63 and label.replace("-", "").isalnum() for label in labels
        )


class CockpitConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    # Declared first: the host's check reads it.
    allow_remote_bind: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8088, ge=1, le=65535)
    # Host header values answered (without the port); anything else gets 400.
    allowed_hosts: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "localhost"], min_length=1
    )
    rate_limit_per_second: float = Field(default=20.0, gt=0, le=100_000)
    rate_limit_burst: int = Field(default=60, ge=1, le=1_000_000)

    @field_validator("host")
    @classmethod
    def _host_name(cls, value: str, info: ValidationInfo) -> str:
        if not _valid_host_name(value):
            raise ValueError(f"{value!r} is not a host name or IP address; e.g. 127.0.0.1")
        if not is_loopback(value) and not info.data.get("allow_remote_bind"):
            raise ValueError(
                f"{value!r} is not loopback; the cockpit binds to 127.0.0.1 unless "
                "cockpit.allow_remote_bind is true (prefer a tunnel: see the README)"
            )
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _host_names(cls, value: list[str]) -> list[str]:
        bad = [h for h in value if not _valid_host_name(h)]
        if bad:
            raise ValueError(f"not host names: {bad}; allowed: names or IPs without a port")
        repeated = sorted({h for h in value if value.count(h) > 1})
        if repeated:
            raise ValueError(f"duplicate entries {repeated}; list each one once")
        return [h.lower() for h in value]
