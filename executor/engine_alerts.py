"""The alerts the executor raises for its own events, through the one alert module
(``executor.alerts.Alerter.send``: ``alerts.jsonl`` and every remote channel, with its
de-duplication and rate limit), so they go out while Dagster is down.

=========================================  =========  =====================================
event                                      level      key (de-duplication)
=========================================  =========  =====================================
a tick recorded new fills                  INFO       the first new fill's trade id
a tick slower than
``alerts.latency_warning_seconds``         WARNING    ``latency``
an exchange call failed (rate limit, an    WARNING    the step and the error's kind
empty book, a refused request), or a
step's minor error (market data)
the exchange cannot be reached (a          CRITICAL   ``exchange-connection``
``BrokerUnavailable`` caused by a network
error); then, once a tick reaches it,
``connection restored``                    INFO
drawdown stages (``protocol.drawdown_      the        the stage
stages``: 5 % WARNING, 10 % CRITICAL,      stage's
15 % and 20 % EMERGENCY) of the flat
kill switch (with ``strategies:`` the
risk protocol alerts its own stages)
trading halted by ``max_drawdown_pct``     CRITICAL   ``halted``
a step crashed (a bug, a full disk)        EMERGENCY  the step and the exception's kind
publishing failed                          WARNING    the exception's kind
=========================================  =========  =====================================

Nothing here raises: an alert must never stop a tick.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from executor.brokers.base import BrokerError, BrokerUnavailable
from executor.records import Fill
from trading_core.config import TradingConfig
from trading_core.config_portfolio import DrawdownStageConfig
from trading_core.protocol.drawdown import stage_for

log = logging.getLogger("executor.alerts")

# ccxt's NetworkError family members that mean "slow down", not "unreachable".
_NOT_CONNECTION = frozenset({"RateLimitExceeded", "DDoSProtection", "InvalidNonce"})
MAX_FILL_LINES = 10


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and what caused it (``__cause__``, ``__context__``, a retry's ``last``)."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo and len(seen) < 20:
        item = todo.pop()
        if item is None or any(item is s for s in seen):
            continue
        seen.append(item)
        todo += [item.__cause__, item.__context__, getattr(item, "last", None)]
    return seen


def connection_lost(exc: BaseException) -> bool:
    """A ``BrokerUnavailable`` whose cause is a network failure (not a rate limit)."""
    if not isinstance(exc, BrokerUnavailable):
        return False
    for cause in _causes(exc)[1:]:
        names = {cls.__name__ for cls in type(cause).__mro__}
        if names & _NOT_CONNECTION:
            return False
        if isinstance(cause, ConnectionError | TimeoutError) or "NetworkError" in names:
            return True
    return False


def _takes_key(send: Callable[..., object]) -> bool:
    try:
        params = inspect.signature(send).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "key" or p.kind == p.VAR_KEYWORD for p in params)


def describe_fill(fill: Fill) -> str:
    instance = f" ({fill.instance_id})" if fill.instance_id else ""
    return f"{fill.side} {fill.quantity:g} {fill.symbol} at {fill.price:g}{instance}"


class TickLike(Protocol):
    """What a tick reports (``executor.engine.TickReport``)."""

    started_at: datetime
    errors: list[str]
    fills_recorded: int


class FillSource(Protocol):
    def fills_since(
        self, since: datetime | None = None, *, after_id: int | None = None
    ) -> list[Fill]: ...


class EngineAlerts:
    """The engine's alerts. ``send`` is ``Alerter.send`` (or any callable of its shape;
    None: alerts are off, as in tests that pass no alert sender)."""

    def __init__(
        self,
        send: Callable[..., object] | None,
        config: TradingConfig,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self._send = send
        self._keyed = send is not None and _takes_key(send)
        self.latency_bound = config.alerts.latency_warning_seconds
        self.stages: Sequence[DrawdownStageConfig] = config.protocol.drawdown_stages
        self.monotonic = monotonic
        self.stage = 0
        self.exchange_down_since: datetime | None = None
        self._alerted_errors: set[str] = set()
        self._lost_this_tick = False

    def send(self, level: str, title: str, message: str, at: datetime, key: str) -> None:
        if self._send is None:
            return
        try:
            if self._keyed:
                self._send(level, title, message, at, key=key)
            else:
                self._send(level, title, message, at)
        except Exception:  # the Alerter never raises; another sender might
            log.exception("sending an executor alert crashed")

    # ------------------------------------------------------------------------ tick

    def tick_started(self) -> float:
        self._alerted_errors = set()
        self._lost_this_tick = False
        return self.monotonic()

    def step_failed(self, step: str, exc: BaseException, error: str, at: datetime) -> None:
        """A tick step raised ``exc`` (``error``: its line in the tick's report)."""
        self._alerted_errors.add(error)
        kind = type(exc).__name__
        if connection_lost(exc):
            self._lost_this_tick = True
            if self.exchange_down_since is None:
                self.exchange_down_since = at
            self.send(
                "critical",
                "executor: exchange connection lost",
                f"{step}: {exc}",
                at,
                "exchange-connection",
            )
        elif isinstance(exc, BrokerError):
            self.send("warning", "executor: exchange API error", f"{step}: {exc}", at,
                      f"api|{step}|{kind}")  # fmt: skip
        else:
            self.send(
                "emergency",
                "executor: system error",
                f"tick step {step} crashed: {exc!r}; the other steps still run",
                at,
                f"system|{step}|{kind}",
            )

    def tick_done(self, started: float, report: TickLike, ledger: FillSource, before: int) -> None:
        """After a tick: its new fills (the ``report.fills_recorded`` newest rows after the
        ``before`` count; ids may have gaps on PostgreSQL), its duration, its minor errors,
        an exchange that answers again."""
        if self._send is None:  # a replay or a test without alerts: no ledger reads
            return
        try:
            count = report.fills_recorded
            fills = ledger.fills_since(after_id=before)[-count:] if count > 0 else []
            self._tick_done(started, report.started_at, report.errors, fills)
        except Exception:
            log.exception("executor alerts after a tick crashed")

    def _tick_done(
        self, started: float, at: datetime, errors: Sequence[str], fills: Sequence[Fill]
    ) -> None:
        if fills:
            lines = [describe_fill(f) for f in fills[:MAX_FILL_LINES]]
            if len(fills) > MAX_FILL_LINES:
                lines.append(f"and {len(fills) - MAX_FILL_LINES} more fill(s)")
            title = f"executor: trade executed ({len(fills)} fill(s))"
            self.send("info", title, "; ".join(lines), at, f"trade|{fills[0].trade_id}")
        took = self.monotonic() - started
        if took > self.latency_bound:
            self.send(
                "warning",
                "executor: latency",
                f"a tick took {took:.2f} s, above the bound of {self.latency_bound:g} s "
                "(alerts.latency_warning_seconds)",
                at,
                "latency",
            )
        minor = [e for e in errors if e not in self._alerted_errors]
        if minor:
            self.send("warning", "executor: minor errors", "; ".join(minor)[:1000], at,
                      f"minor|{minor[0].split(':', 1)[0]}")  # fmt: skip
        if self.exchange_down_since is not None and not self._lost_this_tick:
            down = (at - self.exchange_down_since).total_seconds()
            self.exchange_down_since = None
            self.send("info", "executor: exchange connection restored",
                      f"the exchange answers again after {down:.0f} s", at,
                      "exchange-restored")  # fmt: skip

    # -------------------------------------------------------------------- drawdown

    def drawdown(self, drawdown: float, peak: float, equity: float, at: datetime) -> None:
        """The flat kill switch's drawdown (a fraction below ``peak``): a deeper stage than
        the last one alerted alerts at its level; a recovery lowers the stage again."""
        try:
            stage = stage_for(max(0.0, drawdown), list(self.stages))
        except (TypeError, ValueError):
            return
        if stage > self.stage:
            level = self.stages[stage - 1]
            self.send(
                level.level.lower(),
                f"executor: drawdown stage {stage}",
                f"drawdown {drawdown:.2%} from peak equity {peak:.2f} (now {equity:.2f}) "
                f"reached stage {stage} ({level.pct:g} %)",
                at,
                f"drawdown|{stage}",
            )
        self.stage = stage

    def halted(self, reason: str, at: datetime) -> None:
        self.send("critical", "executor: trading halted", reason, at, "halted")

    def publish_failed(self, exc: BaseException, at: datetime) -> None:
        self.send("warning", "executor: publishing failed", f"{exc}"[:500], at,
                  f"publish|{type(exc).__name__}")  # fmt: skip
