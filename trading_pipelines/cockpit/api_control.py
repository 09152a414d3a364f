"""``POST /api/v1/control/{action}``: the operator actions, checked and recorded.

The token is checked before anything else about the request is looked at; then the action,
the body's size, its JSON and its fields (``ControlRequest``: no unknown field, strict
types, no NaN). A refused request changes nothing.

- ``pause``, ``resume``, ``close-all``, ``halt``, ``review`` and ``close-position`` (with
  ``{"symbol": ...}``) record the same ledger command as ``trading control``
  (``Ledger.add_command``, audited).
- The operator overrides (``set-risk``, ``blacklist``, ``unblacklist``, ``force-exit``,
  ``pause-instance``, ``resume-instance``) go through the one checked path every front end
  uses, ``executor.override_ledger.issue`` (``source: cockpit``); what it refuses (an
  unknown instance or symbol, a scale that is not positive or above the cap, a bad
  duration, a duplicate of a pending command) is 422 with its words.

The running executor applies a recorded command on its next tick.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.concurrency import run_in_threadpool

from executor import override_ledger
from executor.control import _normalize_symbol
from executor.ledger.controls import ALL_COMMANDS, OVERRIDE_COMMANDS
from trading_pipelines.cockpit.context import Cockpit
from trading_pipelines.cockpit.security import TOKEN_HEADER, WriteRefused

MAX_BODY_BYTES = 4096
log = logging.getLogger("trading_pipelines.cockpit")

# The fields each action takes besides ``reason`` and ``who``.
ACTION_FIELDS: dict[str, tuple[str, ...]] = {
    "close-position": ("symbol",),
    "set-risk": ("scale", "risk_per_trade", "clear", "duration", "until"),
    "blacklist": ("symbol", "duration", "until"),
    "unblacklist": ("symbol",),
    "force-exit": ("symbol", "instance"),
    "pause-instance": ("instance", "duration", "until"),
    "resume-instance": ("instance",),
}
OVERRIDE_FIELDS = ("symbol", "instance", "scale", "risk_per_trade", "clear", "duration", "until")


class ControlRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    reason: str = Field(default="no reason given", min_length=1, max_length=500)
    symbol: str | None = Field(default=None, min_length=3, max_length=32)
    who: str = Field(default="web", pattern=r"^[A-Za-z0-9_.@-]{1,40}$")
    instance: str | None = Field(default=None, min_length=1, max_length=40)
    scale: float | None = Field(default=None, allow_inf_nan=False)
    risk_per_trade: float | None = Field(default=None, allow_inf_nan=False)
    clear: bool = False
    duration: str | None = Field(default=None, min_length=1, max_length=16)
    until: str | None = Field(default=None, min_length=1, max_length=40)

    @field_validator("symbol")
    @classmethod
    def _unified(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.fullmatch(r"[A-Z0-9]{1,15}[/-][A-Z0-9]{1,15}", value):
            raise ValueError("must look like BTC/USDT or BTC-USDT")
        return _normalize_symbol(value)

    def given(self) -> list[str]:
        """The action fields this request sets (``None`` and ``clear: false`` are unset)."""
        return [
            n
            for n in OVERRIDE_FIELDS
            if getattr(self, n) is not None and (n != "clear" or self.clear)
        ]


def error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def _validation_message(exc: ValidationError) -> tuple[str, str]:
    problem = exc.errors()[0]
    field = ".".join(str(p) for p in problem["loc"]) or "body"
    return field, f"{field}: {problem['msg'].removeprefix('Value error, ')}"


def _misplaced(action: str, body: ControlRequest) -> JSONResponse | None:
    """422 for a field the action does not take (it would otherwise be ignored)."""
    allowed = ACTION_FIELDS.get(action, ())
    for name in body.given():
        if name not in allowed:
            takers = [a for a, fields in ACTION_FIELDS.items() if name in fields]
            return error(
                422,
                f"{name}: {action} takes no {name}; only {', '.join(takers)} take one "
                f"(it takes: {list(allowed) or 'reason and who only'})",
                field=name,
            )
    return None


def _field_named(message: str, body: ControlRequest) -> str | None:
    """The one field of the request an override's refusal names, if exactly one."""
    named = [n for n in body.given() if n in message]
    return named[0] if len(named) == 1 else None


async def _read_body(request: Request) -> ControlRequest | JSONResponse:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        return error(413, f"the body has {len(raw)} bytes; at most {MAX_BODY_BYTES}")
    try:
        payload = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError):
        return error(422, 'the body is not JSON; send an object such as {"reason": "..."}')
    if not isinstance(payload, dict):
        return error(422, "the body must be a JSON object", field="body")
    try:
        return ControlRequest.model_validate(payload)
    except ValidationError as exc:
        field, message = _validation_message(exc)
        return error(422, message, field=field)


def add_control_route(api: APIRouter) -> None:
    @api.post("/control/{action}", status_code=202)
    async def control(action: str, request: Request) -> JSONResponse:
        cockpit: Cockpit = request.app.state.cockpit
        client = request.client.host if request.client else "unknown"
        try:
            cockpit.token.check(
                request.headers.get("authorization"), request.headers.get(TOKEN_HEADER)
            )
        except WriteRefused as refused:
            log.warning("cockpit write refused: %s (%s from %s)", refused.message, action, client)
            return error(refused.status, refused.message)
        if action not in ALL_COMMANDS:
            return error(404, f"unknown action {action!r}; allowed: {list(ALL_COMMANDS)}")
        body = await _read_body(request)
        if isinstance(body, JSONResponse):
            return body
        misplaced = _misplaced(action, body)
        if misplaced is not None:
            return misplaced
        who = f"cockpit:{body.who}"
        if action in OVERRIDE_COMMANDS:
            try:
                command_id = await run_in_threadpool(
                    override_ledger.issue,
                    cockpit.ledger,
                    cockpit.config,
                    action,
                    who=who,
                    why=body.reason,
                    symbol=body.symbol,
                    instance=body.instance,
                    scale=body.scale,
                    risk_per_trade=body.risk_per_trade,
                    clear=body.clear,
                    duration=body.duration,
                    until=body.until,
                    source="cockpit",
                )
            except ValueError as exc:  # OverrideError: nothing recorded
                log.info("cockpit override %s refused from %s: %s", action, client, exc)
                field = _field_named(str(exc), body)
                return error(422, str(exc), **({"field": field} if field else {}))
        else:
            if action == "close-position":
                if body.symbol is None:
                    return error(422, "symbol: close-position needs a symbol", field="symbol")
                positions = await run_in_threadpool(cockpit.reader.positions)
                held = sorted({p["symbol"] for p in positions})
                if body.symbol not in held:
                    return error(
                        404,
                        f"no open position in {body.symbol}; open positions: {held}",
                        field="symbol",
                    )
            command_id = await run_in_threadpool(
                cockpit.ledger.add_command, action, who, body.reason, body.symbol
            )
        log.info("cockpit command %s (%s) recorded from %s", command_id, action, client)
        return JSONResponse(
            {
                "command_id": command_id,
                "action": action,
                "symbol": body.symbol,
                "instance": body.instance,
                "status": "recorded",
                "message": "recorded in the ledger; the executor applies it on its next tick",
            },
            status_code=202,
        )


__all__ = ["ACTION_FIELDS", "MAX_BODY_BYTES", "ControlRequest", "add_control_route", "error"]
