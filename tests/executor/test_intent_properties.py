"""Property: whatever comes in through ``trading intents submit``, the executor keeps going,
every intent ends in a terminal status with a reason, and nothing is filled that the
documented rules forbid.

Random batches of JSON lines (mostly well-formed intents with random values, mixed with
hostile ones: NaN/inf/negative/zero/huge numbers, wrong types, missing and unknown fields,
wrong side/action combinations, limits without a price, unknown symbols, another exchange,
decisions far in the past or the future, duplicate ids with other content, lines that are not
JSON or not objects, huge strings) go through the real CLI into a fresh SQLite ledger; a
paper engine on a steered clock and market then ticks with candles, operator commands and a
restart in between.

The oracle (``Rules``) is written here from the documentation, not from the executor's
admission or risk code: README "Manual trades" (the line contract), "Fill conventions" and the
operator controls, the docstrings of ``executor/admission.py`` and ``executor/risk.py``, and
the comments of ``ExecutorConfig``/``RiskConfig`` (``trading_core/config_executor.py``,
``config_strategy.py``). It judges every order at the moment the engine creates it (the
ledger's ``create_order`` is observed: trading state, cash, positions and busy symbols just
before the order exists), and replays
every fill to check holdings and cash.

Below the property: one deterministic test per defect of issue 8 that it covers, and one
per defect it found (those fail until the defect is fixed).
"""

from __future__ import annotations

import io
import json
import math
import string
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

from executor import schema
from executor.brokers.paper import PaperBroker
from executor.engine import Engine, EngineOptions, TickReport
from executor.intents import OrderIntent
from executor.ledger import Ledger
from executor.orders import OrderState
from executor.records import NewOrder
from tests.executor.helpers import Clock, StubMarket
from trading_core.config import TradingConfig
from trading_core.timeframes import TIMEFRAME_SECONDS, utc_now
from trading_pipelines.cli import main

# ----------------------------------------------------------------------------- the setup

EXCHANGE = "sim"
QUOTE = "USDT"
MIDS: dict[str, float] = {"BTC/USDT": 100.0, "ETH/USDT": 50.0, "SOL/USDT": 10.0, "ADA/USDT": 1.0}
# ADA/USDT has an order book in the market but is not configured: it must never trade.
CONFIGURED: tuple[str, ...] = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
SPREAD, BOOK_STEP, BOOK_DEPTH = 0.0002, 0.002, 5  # levels 3 and 4 lie beyond the 50 bps cap


def trading_config(cash: float = 500.0, max_open: int = 2) -> TradingConfig:
    """The executor's configuration; the scenario picks the cash and the position slots."""
    return TradingConfig.model_validate(
        {
            "market": {"symbols": list(CONFIGURED)},
            "executor": {"exchange": EXCHANGE, "quote_currency": QUOTE, "starting_cash": cash},
            "risk": {
                # position_fraction 1: the cash rule is the binding one (documented, below).
                "position_fraction": 1.0,
                "min_notional": 5.0,
                "max_notional": 400.0,
                "max_open_positions": max_open,
                "max_trades_per_day": 1000,
                "max_drawdown_pct": 0.2,
            },
            "fees": {"maker": 0.0005, "taker": 0.001, "max_slippage_bps": 50.0},
        }
    )


CONFIG = trading_config()
# Limit entries are repriced after a minute, once: every intent settles within a few ticks.
OPTIONS = EngineOptions(limit_timeout_seconds=60.0, max_reprices=1)
TICK = timedelta(seconds=60)
SETTLE_TICKS, MAX_SETTLE_TICKS = 3, 10

TERMINAL = frozenset({"DONE", "REJECTED_BY_RISK", "EXPIRED", "INVALID", "FAILED"})
REFUSED = frozenset({"REJECTED_BY_RISK", "EXPIRED", "INVALID"})
LIVE = frozenset(
    {
        OrderState.PENDING_SUBMIT,
        OrderState.IN_FLIGHT_UNKNOWN,
        OrderState.OPEN,
        OrderState.PARTIALLY_FILLED,
    }
)
EPS = 1e-9
# Sells: a close intent's exit, the executor's protective exits, an operator's close, and
# the native backstop resting behind a protected position (executor/backstop.py docstring).
SELL_ROLES = frozenset(
    {"exit", "stop_loss", "take_profit", "trailing_stop", "operator", "backstop"}
)


# ------------------------------------------------------------------ the documented rules


class Rules:
    """What may be traded, from the documentation (never from executor.admission/risk).

    - Admission (admission.py docstring, ExecutorConfig comments, README): an entry is fresh
      while ``market_now - decided_at`` is at most one bar of its timeframe plus
      ``intent_grace_seconds`` (``max_intent_age_seconds`` unset), its market price is within
      ``max_price_deviation`` of its reference price (when it has one), and ``decided_at`` is
      at most ``clock_skew_seconds`` ahead. Only configured markets of the executor's exchange
      trade; exits of a held position always may (a late one is flagged, never expired).
    - Risk gate (risk.py docstring, RiskConfig): ACTIVE allows what the limits allow,
      REDUCING only exits, HALTED nothing new (README: "halt: nothing new at all"; an
      operator's close-position/close-all is the operator's own order). Spot: an entry is a
      buy, an exit a sell of a held position. The requested notional (``notional``, or
      ``quantity`` at the price) lies within ``[min_notional, max_notional]``, costs at most
      the cash with the taker fee, and a symbol without a position or a working entry needs a
      free slot under ``max_open_positions``.
    - Fill conventions (README): market orders walk the book, at most ``max_slippage_bps``
      from the best price; a buy limit never pays above its limit; taker fee for market
      orders and exits, maker fee for resting limits.

    Not modeled, so kept out of play by the configuration: ``position_fraction`` is 1 (the
    cash rule binds first), ``max_trades_per_day`` is out of reach, ``max_intent_age_seconds``
    is unset. A reprice of a working limit entry (``limit_timeout_seconds``) is judged by
    its first order's admission, the trading state, and its size.
    """

    # Bar lengths are data, not a rule under test: the project's one table.
    bar_seconds: dict[str, int] = TIMEFRAME_SECONDS

    def __init__(self, config: TradingConfig, books: dict[str, tuple[float, float]]):
        ex, risk, fees = config.executor, config.risk, config.fees
        assert ex.max_intent_age_seconds is None, "the oracle models the default age rule"
        self.grace = ex.intent_grace_seconds
        self.skew = ex.clock_skew_seconds
        self.deviation = ex.max_price_deviation
        self.min_notional, self.max_notional = risk.min_notional, risk.max_notional
        self.max_open = risk.max_open_positions
        self.taker, self.maker = fees.taker, fees.maker
        self.slippage = fees.max_slippage_bps / 10_000
        self.books = books  # symbol -> (best bid, best ask)

    def age_limit(self, timeframe: str) -> float:
        return self.bar_seconds[timeframe] + self.grace

    def entry(self, seen: Seen, intent: OrderIntent | None) -> list[str]:
        """Why the first order of an entry must not exist (empty: it may)."""
        if intent is None:
            return ["an entry order without a stored intent"]
        why: list[str] = []
        order = seen.order
        if (order.symbol, order.side, order.exchange) != (intent.symbol, "buy", intent.exchange):
            why.append(f"order {order.symbol} {order.side} does not match its intent")
        if intent.exchange != EXCHANGE:
            why.append(f"intent for exchange {intent.exchange!r}")
        if intent.symbol not in CONFIGURED:
            why.append(f"{intent.symbol} is not a configured market")
        if (intent.action, intent.side) != ("open", "buy"):
            why.append(f"an entry from a {intent.side}/{intent.action} intent")
        if seen.state != "ACTIVE":
            why.append(f"an entry while {seen.state}")
        sizes = [x for x in (intent.notional, intent.quantity) if x is not None]
        if len(sizes) != 1 or not all(math.isfinite(x) and x > 0 for x in sizes):
            why.append(f"size notional={intent.notional} quantity={intent.quantity}")
            return why
        age = (seen.at - intent.decided_at).total_seconds()
        if -age > self.skew:
            why.append(f"decided_at {-age:.3f} s ahead of the market clock")
        if age > self.age_limit(intent.timeframe):
            why.append(f"stale: {age:.3f} s old, limit {self.age_limit(intent.timeframe)} s")
        bid, ask = self.books.get(intent.symbol, (math.nan, math.nan))
        ref = intent.reference_price
        if ref and min(abs(bid / ref - 1), abs(ask / ref - 1)) > self.deviation + EPS:
            why.append(f"price {bid}/{ask} moved beyond {self.deviation} from {ref}")
        if intent.notional is not None:
            low = high = intent.notional
        else:
            low, high = intent.quantity * bid, intent.quantity * ask  # type: ignore[operator]
        if high < self.min_notional - EPS or low > self.max_notional + EPS:
            why.append(f"notional {low:.6g}..{high:.6g} outside the limits")
        if low * (1 + self.taker) > seen.cash + 1e-6:
            why.append(f"needs {low * (1 + self.taker):.6g} cash, {seen.cash:.6g} available")
        if intent.symbol not in seen.busy and len(seen.busy) >= self.max_open:
            why.append(f"a new symbol with {sorted(seen.busy)} busy, max {self.max_open}")
        return why

    def reprice(self, seen: Seen, first: Seen | None) -> list[str]:
        why = [] if first is not None else ["a repriced entry without a first order"]
        if seen.state != "ACTIVE":
            why.append(f"a repriced entry while {seen.state}")
        if first is not None and seen.order.quantity > first.order.quantity + EPS:
            why.append("a reprice for more than the first order")
        return why

    def exit(self, seen: Seen, intent: OrderIntent | None) -> list[str]:
        """Why a sell must not exist (an intent's close, a protective or operator exit)."""
        order = seen.order
        held = seen.held.get(order.symbol, 0.0)
        why: list[str] = []
        if order.side != "sell":
            why.append(f"a {order.role} order that buys")
        if held <= 0:
            why.append(f"a sell of {order.symbol} with nothing held")
        elif order.quantity > held * (1 + 1e-9) + EPS:
            why.append(f"sells {order.quantity} of {held} held")
        # An operator's close-position/close-all is the operator's own decision.
        if order.role != "operator" and seen.state == "HALTED":
            why.append(f"a {order.role} order while HALTED")
        if order.role == "exit":
            if intent is None:
                why.append("an exit order without a stored intent")
            elif (intent.action, intent.side, intent.exchange) != ("close", "sell", EXCHANGE):
                why.append(f"an exit from a {intent.side}/{intent.action} intent")
            elif intent.symbol != order.symbol:
                why.append("an exit of another symbol than its intent's")
        return why


# ------------------------------------------------------------------- the rig and its run


@dataclass(frozen=True)
class Seen:
    """The ledger just before the engine created ``order``."""

    order: NewOrder
    at: datetime
    state: str
    cash: float
    held: dict[str, float]
    busy: frozenset[str]  # symbols with a position or a working entry


@dataclass(frozen=True)
class Rel:
    """A date-time ``seconds`` after the submission's market clock, written at ``offset``."""

    seconds: float
    offset: str = "Z"

    def render(self, now: datetime) -> str:
        moment = (now + timedelta(seconds=self.seconds)).replace(tzinfo=UTC)
        if self.offset == "Z":
            return moment.isoformat().replace("+00:00", "Z")
        sign = -1 if self.offset.startswith("-") else 1
        hours, minutes = (int(x) for x in self.offset[1:].split(":"))
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
        return moment.astimezone(tz).isoformat()


@dataclass(frozen=True)
class Line:
    """One input line: ``valid`` must be stored (bar an id conflict), ``bad`` refused,
    ``any`` is not predicted, ``blank`` is skipped."""

    kind: str
    payload: Any  # a JSON-able object (with Rel dates), or raw str/bytes

    def render(self, now: datetime) -> bytes:
        if isinstance(self.payload, bytes):
            return self.payload
        if isinstance(self.payload, str):
            return self.payload.encode()
        text = json.dumps(
            self.payload,
            default=lambda v: v.render(now) if isinstance(v, Rel) else repr(v),
            allow_nan=True,
        )
        return text.encode()


@dataclass
class Scenario:
    batches: list[list[Line]]
    commands: list[tuple[int, str, str]]  # (tick, command, symbol)
    moves: list[tuple[float, float]]  # candle (down, up) fractions, one per tick
    amounts: dict[str, float]  # order-book amount per level, per symbol
    cash: float = 500.0  # starting cash
    max_open: int = 2  # max_open_positions


@dataclass
class Submitted:
    line: Line
    text: str
    result: dict[str, Any]


@dataclass
class Run:
    """A fresh ledger, a paper engine on a steered clock and market, the CLI for input."""

    root: Path
    amounts: dict[str, float]
    config: TradingConfig = CONFIG
    seen: list[Seen] = field(default_factory=list)
    submitted: list[Submitted] = field(default_factory=list)
    reports: list[TickReport] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.url = f"sqlite:///{self.root / 'ledger.sqlite'}"
        # The CLI dates a line without decided_at by the wall clock: start the market there.
        self.clock = Clock(utc_now())
        self.market = StubMarket(self.clock)
        for symbol, mid in MIDS.items():
            self.market.set_book(
                symbol,
                mid,
                spread=SPREAD,
                depth=BOOK_DEPTH,
                amount=self.amounts[symbol],
                step=BOOK_STEP,
            )
        books = {s: (b[0][0], a[0][0]) for s, (b, a) in self.market.books.items()}
        self.rules = Rules(self.config, books)
        self.ledger = Ledger(self.url, clock=self.clock)
        self._observe_orders()
        self.engine = self._engine()
        self.batch = 0

    def _engine(self) -> Engine:
        fees, config = self.config.fees, self.config
        broker = PaperBroker(self.market, exchange=EXCHANGE, fees=fees, clock=self.clock)
        engine = Engine(self.ledger, broker, self.market, config, OPTIONS, clock=self.clock)
        engine.start()
        return engine

    def _observe_orders(self) -> None:
        create = self.ledger.create_order
        ledger = self.ledger

        def observed(order: NewOrder, **kwargs: Any) -> Any:
            held = {p.symbol: p.quantity for p in ledger.open_positions()}
            working = {o.symbol for o in ledger.orders(LIVE) if o.role == "entry"}
            self.seen.append(
                Seen(
                    order=order,
                    at=self.clock(),
                    state=ledger.trading_state(),
                    cash=ledger.cash(QUOTE),
                    held=held,
                    busy=frozenset(held) | frozenset(working),
                )
            )
            return create(order, **kwargs)

        self.ledger.create_order = observed  # type: ignore[method-assign]

    def submit(self, lines: list[Line]) -> None:
        """``trading intents submit FILE`` in-process; every line gets its answer."""
        self.batch += 1
        rendered = [line.render(self.clock()) for line in lines]
        path = self.root / f"batch{self.batch}.jsonl"
        path.write_bytes(b"".join(raw + b"\n" for raw in rendered))
        out = io.StringIO()
        with redirect_stdout(out):
            status = main(["intents", "submit", str(path), "--ledger-url", self.url])
        results = [json.loads(text) for text in out.getvalue().splitlines()]
        assert status == 0, (status, results)
        # What the CLI answers and keeps: each line decoded, its line break stripped.
        texts = [raw.decode("utf-8", errors="replace").rstrip("\r\n") for raw in rendered]
        answered = [(line, text) for line, text in zip(lines, texts, strict=True) if text.strip()]
        assert len(results) == len(answered), "one answer per non-blank line"
        for (line, text), result in zip(answered, results, strict=True):
            self.submitted.append(Submitted(line, text, result))

    def tick(self, move: tuple[float, float]) -> None:
        """Close the minute since the last tick as a candle, then tick the engine."""
        start = self.clock() - TICK
        down, up = move
        for symbol, mid in MIDS.items():
            self.market.add_candle(symbol, start, mid, mid * (1 + up), mid * (1 - down), mid)
        report = self.engine.tick()  # never raises: that is the first property
        self.reports.append(report)
        assert report.errors == [], f"tick {report.tick} logged errors: {report.errors}"
        self.clock.advance(seconds=TICK.total_seconds())

    def restart(self) -> None:
        """A second engine process on the same ledger (the poison-at-every-start defect)."""
        self.engine = self._engine()


def run_scenario(root: Path, scenario: Scenario) -> Run:
    run = Run(root, scenario.amounts, trading_config(scenario.cash, scenario.max_open))
    commands = defaultdict(list)
    for tick, command, symbol in scenario.commands:
        commands[tick].append((command, symbol))
    ticks = 0

    def tick() -> None:
        nonlocal ticks
        for command, symbol in commands.get(ticks, []):
            target = symbol if command == "close-position" else None
            run.ledger.add_command(command, "prop", "property test", target)
        run.tick(scenario.moves[ticks % len(scenario.moves)])
        ticks += 1

    for lines in scenario.batches:
        run.submit(lines)
        tick()
    # Restart while orders may still be working, then tick until every intent has settled
    # (limit entries time out and are repriced once; throttled entries wait a tick).
    run.restart()
    for extra in range(MAX_SETTLE_TICKS):
        tick()
        counts = run.ledger.intent_counts()
        if extra + 1 >= SETTLE_TICKS and not counts.get("NEW") and not counts.get("ACCEPTED"):
            break
    return run


# ------------------------------------------------------------------------- the checks


def note(label: str) -> None:
    """Count ``label`` in Hypothesis' statistics (the checks also run in plain tests)."""
    if currently_in_test_context():
        event(label)


def check_all(run: Run) -> None:
    stored = check_answers(run)
    check_stored_content(run, stored)
    check_statuses(run, stored)
    check_orders(run)
    check_fills(run, stored)


def check_answers(run: Run) -> set[str]:
    """Every line is accounted for; returns the ids of the intents stored (accepted, new)."""
    stored: dict[str, Submitted] = {}
    refused_lines: list[Submitted] = []
    quarantine = run.ledger.quarantined_intents(limit=10_000)
    conflicts = {e["subject"] for e in run.ledger.audit_entries("intent_conflict", 10_000)}
    for item in run.submitted:
        result, kind = item.result, item.line.kind
        assert set(result) == {"intent_id", "accepted", "reason", "line"}, result
        assert isinstance(result["reason"], str) and result["reason"].strip(), result
        if result["accepted"]:
            assert kind != "bad", f"a malformed line was stored: {item.text[:300]!r} {result}"
            assert run.ledger.intent(result["intent_id"]) is not None, result
            if result["reason"] == "new":
                assert result["intent_id"] not in stored, result
                stored[result["intent_id"]] = item
            else:
                assert result["reason"] == "duplicate of an existing identical intent", result
                assert result["intent_id"] in stored, result
        elif result["reason"].startswith("duplicate intent id"):
            # Refused for its id: audited, and the stored intent stands.
            assert kind != "blank", result
            assert result["intent_id"] in stored, result
            assert result["intent_id"] in conflicts, result
        else:
            assert kind != "valid", f"a valid line was refused: {item.text[:300]!r} {result}"
            assert result["reason"].startswith(f"line {result['line']}: "), result
            refused_lines.append(item)
    # Every refused line is kept in the quarantine with its raw text and reason.
    assert len(quarantine) == len(refused_lines)
    kept = sorted((row["payload"], row["reason"]) for row in quarantine)
    assert kept == sorted((item.text, item.result["reason"]) for item in refused_lines)
    # Nothing else reached the intents table.
    assert sum(run.ledger.intent_counts().values()) == len(stored)
    return set(stored)


def check_stored_content(run: Run, stored: set[str]) -> None:
    """A stored intent says what its line said, with the README's defaults for the rest."""
    for item in run.submitted:
        result = item.result
        if not (result["accepted"] and result["reason"] == "new"):
            continue
        obj = json.loads(item.text)
        record = run.ledger.intent(result["intent_id"])
        assert record is not None
        intent = record.intent
        defaults = {"strategy": "manual", "exchange": EXCHANGE, "timeframe": "1m"}
        for name, default in defaults.items():
            assert getattr(intent, name) == obj.get(name, default), (name, obj, intent)
        for name in ("symbol", "side", "action", "order_type", "post_only"):
            if name in obj:
                assert getattr(intent, name) == obj[name], (name, obj, intent)
        for name in (
            "notional",
            "quantity",
            "limit_price",
            "reference_price",
            "stop_loss",
            "take_profit",
            "trailing_stop_pct",
        ):
            if obj.get(name) is not None:
                assert getattr(intent, name) == float(obj[name]), (name, obj, intent)
        expected_type = "limit" if obj.get("limit_price") is not None else "market"
        assert intent.order_type == obj.get("order_type", expected_type), (obj, intent)


def check_statuses(run: Run, stored: set[str]) -> None:
    """Every intent is terminal with a reason; a refusal created no order; none failed."""
    orders = run.ledger.orders()
    for intent_id in stored:
        record = run.ledger.intent(intent_id)
        assert record is not None
        own = [o for o in orders if o.intent_id == intent_id and o.role in ("entry", "exit")]
        assert record.status in TERMINAL, (intent_id, record.status, record.status_reason)
        assert record.status_reason and record.status_reason.strip(), (intent_id, record)
        assert record.status != "FAILED", (
            f"the executor failed on {record.intent}: {record.status_reason}"
        )
        if record.status in REFUSED:
            assert own == [], (record, own)
        else:
            assert own, (record, "DONE without an order")
        note(f"status {record.status}")


def check_orders(run: Run) -> None:
    """The oracle: no order the documented rules forbid was ever created."""
    intents: dict[str, OrderIntent] = {}
    for seen in run.seen:
        if seen.order.intent_id and seen.order.intent_id not in intents:
            record = run.ledger.intent(seen.order.intent_id)
            if record is not None:
                intents[seen.order.intent_id] = record.intent
    first_entry: dict[str, Seen] = {}
    for seen in run.seen:
        order = seen.order
        intent = intents.get(order.intent_id or "")
        if order.role == "entry" and order.attempt == 0:
            why = run.rules.entry(seen, intent)
            first_entry[order.intent_id or ""] = seen
        elif order.role == "entry":
            why = run.rules.reprice(seen, first_entry.get(order.intent_id or ""))
        elif order.role in SELL_ROLES:
            why = run.rules.exit(seen, intent)
        else:
            why = [f"an order of unknown role {order.role!r}"]
        assert not why, f"forbidden order {order}\n  intent {intent}\n  seen {seen}\n  {why}"
        note(f"order {order.role}")


def check_fills(run: Run, stored: set[str]) -> None:
    """Replay every fill: only accepted intents' orders fill, at conventional prices and
    fees, never selling more than held, and cash never below zero."""
    orders = {o.client_order_id: o for o in run.ledger.orders()}
    cash = run.config.executor.starting_cash
    held: dict[str, float] = defaultdict(float)
    filled: dict[str, float] = defaultdict(float)
    fills = run.ledger.fills_since()
    for fill in fills:
        order = orders.get(fill.client_order_id or "")
        assert order is not None, f"a fill of no order of ours: {fill}"
        assert (fill.symbol, fill.side) == (order.symbol, order.side), (fill, order)
        assert fill.intent_id == order.intent_id, (fill, order)
        if fill.intent_id is None:
            # Backstops have no intent: they protect a position an intent opened.
            assert order.role == "backstop" and held[fill.symbol] > 0, (fill, order)
        else:
            assert fill.intent_id in stored, (fill, order)
            record = run.ledger.intent(fill.intent_id)
            assert record is not None and record.status == "DONE", (fill, record)
        assert fill.quantity > 0 and fill.price > 0, fill
        filled[order.client_order_id] += fill.quantity
        assert filled[order.client_order_id] <= order.quantity * (1 + 1e-9), (fill, order)
        value = fill.quantity * fill.price
        rate = run.rules.maker if fill.liquidity == "maker" else run.rules.taker
        assert fill.fee == pytest.approx(value * rate, rel=1e-6, abs=1e-12), fill
        assert fill.fee_currency == QUOTE, fill
        bid, ask = run.rules.books[fill.symbol]
        if order.order_type == "market" and order.role in ("entry", "exit", "operator"):
            assert fill.liquidity == "taker", fill
            if fill.side == "buy":
                assert ask - EPS <= fill.price <= ask * (1 + run.rules.slippage) + EPS, fill
            else:
                assert bid * (1 - run.rules.slippage) - EPS <= fill.price <= bid + EPS, fill
        if order.price is not None:  # a limit (or stop-limit): never worse than its price
            if fill.side == "buy":
                assert fill.price <= order.price + EPS, (fill, order)
            else:
                assert fill.price >= order.price - EPS, (fill, order)
        if fill.side == "buy":
            cash -= value + fill.fee
            held[fill.symbol] += fill.quantity
        else:
            have = held[fill.symbol]
            assert fill.quantity <= have * (1 + 1e-9) + EPS, f"sold {fill} holding {have}"
            held[fill.symbol] = have - fill.quantity
            cash += value - fill.fee
        assert cash >= -1e-6, f"cash {cash} after {fill}"
    assert run.ledger.cash(QUOTE) == pytest.approx(cash, rel=1e-9, abs=1e-6)
    positions: dict[str, float] = {}  # what is held, dust (below the market minimum) too
    for p in [*run.ledger.open_positions(), *run.ledger.dust_positions()]:
        positions[p.symbol] = positions.get(p.symbol, 0.0) + p.quantity
    for symbol, quantity in held.items():
        assert positions.get(symbol, 0.0) == pytest.approx(quantity, rel=1e-9, abs=1e-9)
    assert all(symbol in CONFIGURED for symbol in held), held
    note(f"fills: {min(len(fills), 3)}{'+' if len(fills) >= 3 else ''}")


# ------------------------------------------------------------------- the input strategies

FIELDS = (
    "intent_id",
    "strategy",
    "exchange",
    "symbol",
    "timeframe",
    "bar_ts",
    "decided_at",
    "side",
    "action",
    "order_type",
    "notional",
    "quantity",
    "limit_price",
    "reference_price",
    "stop_loss",
    "take_profit",
    "trailing_stop_pct",
    "post_only",
    "reasons",
)
SHAPE_SYMBOLS = (*CONFIGURED, "ADA/USDT", "NOPE/USDT", "BTC/USDT:USDT")
ID_POOL = ("dup1", "dup2", "dup3")
AGES = (
    0, 1, -1, -10, -59.5, -60, -89.999, -90, -90.001, -91, -120, -299, -330, -331,
    -3600, -3630, -3631, -86400, -86430, -86431, -30 * 86400, -395 * 86400,
    3, 4.999, 5, 5.001, 6, 60, 86400,
)  # fmt: skip
OFFSETS = ("Z", "+00:00", "+02:00", "-05:30")
ALNUM = string.ascii_letters + string.digits
OPTIONAL_NUMBERS = (
    "quantity", "limit_price", "reference_price", "stop_loss", "take_profit", "trailing_stop_pct",
)  # fmt: skip


def mid_of(symbol: str) -> float:
    return MIDS.get(symbol.split(":", 1)[0], 100.0)


def rel(seconds: st.SearchStrategy[float] | None = None) -> st.SearchStrategy[Rel]:
    return st.builds(
        Rel,
        seconds if seconds is not None else st.sampled_from(AGES) | st.floats(-7200, 10),
        st.sampled_from(OFFSETS),
    )


def around(mid: float, low: float, high: float) -> st.SearchStrategy[float]:
    return st.floats(low, high).map(lambda f: round(mid * f, 6))


notionals = st.sampled_from([5, 5.0, 4.99, 400, 400.0, 400.01, 0.001, 1e6]) | st.floats(1, 600)
# Free labels (strategy names): printable, no surrounding spaces, at most 64 characters.
labels = st.builds(
    lambda head, inner: head + inner[:63].rstrip(),
    st.sampled_from(ALNUM + "é"),
    st.text(st.sampled_from(ALNUM + "-_. é"), max_size=63),
)
reasons = st.dictionaries(
    st.text(max_size=8),
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    max_size=3,
)


@st.composite
def valid_intent(
    draw: st.DrawFn, *, opening: bool = False, plausible: bool = False
) -> dict[str, Any]:
    """A line the README's contract accepts (admission and the risk gate still decide).

    ``plausible``: a configured market, a buy/open or sell/close, a fresh decision and a size
    within the limits, so that many of them trade; otherwise anything the contract allows.
    """
    symbol = draw(st.sampled_from(CONFIGURED if plausible else SHAPE_SYMBOLS))
    mid = mid_of(symbol)
    obj: dict[str, Any] = {"symbol": symbol}
    combos = [("buy", "open"), ("sell", "close"), ("sell", "open"), ("buy", "close")]
    side, action = draw(
        st.sampled_from(combos[:1] if opening else combos[:2] if plausible else combos)
    )
    spelled = draw(st.sampled_from(["side", "action", "both"]))
    if (side, action) not in combos[:2]:
        spelled = "both"  # a combination no default produces
    if spelled != "action":
        obj["side"] = side
    if spelled != "side":
        obj["action"] = action
    if action == "open":
        if draw(st.booleans()):
            obj["notional"] = draw(st.floats(5, 400) if plausible else notionals)
        elif plausible:
            obj["quantity"] = draw(st.floats(5.01 / mid, 399 / mid))
        else:
            obj["quantity"] = draw(st.sampled_from([1, 1e-9]) | st.floats(1e-4, 400 / mid * 1.5))
        if draw(st.booleans()):
            obj["stop_loss"] = draw(around(mid, 0.9, 0.999))
        if draw(st.booleans()):
            obj["take_profit"] = draw(around(mid, 1.001, 1.1))
        if draw(st.booleans()):
            obj["trailing_stop_pct"] = draw(st.floats(0.005, 0.2))
    elif draw(st.booleans()):
        obj["quantity"] = draw(st.floats(1e-6, 50))
    style = draw(st.sampled_from(["market", "market!", "limit", "limit!"]))
    if style == "market!":
        obj["order_type"] = "market"
    elif style.startswith("limit"):
        obj["limit_price"] = draw(around(mid, 0.9, 1.1))
        if style == "limit!":
            obj["order_type"] = "limit"
        if draw(st.booleans()):
            obj["post_only"] = True
    price = draw(st.sampled_from(["none", "near"] if plausible else ["none", "near", "far", "any"]))
    if price == "near":
        obj["reference_price"] = draw(around(mid, 0.995, 1.005))
    elif price == "far":
        obj["reference_price"] = draw(around(mid, 0.5, 0.97) | around(mid, 1.03, 1.5))
    elif price == "any":
        obj["reference_price"] = draw(st.floats(1e-6, 1e9))
    if draw(st.booleans()):
        obj["timeframe"] = draw(st.sampled_from(["1m", "5m", "1h", "1d"]))
    if plausible or draw(st.integers(0, 3)):
        decided = draw(rel(st.floats(-85, 4) if plausible else None))
        obj["decided_at"] = decided
        if draw(st.booleans()):
            back = draw(st.sampled_from([0, 60, 300, 3600]))
            obj["bar_ts"] = Rel(decided.seconds - back, draw(st.sampled_from(OFFSETS)))
    if draw(st.booleans()):
        obj["intent_id"] = draw(st.sampled_from(ID_POOL) | st.text(ALNUM, min_size=1, max_size=24))
    if draw(st.booleans()):
        obj["strategy"] = draw(labels)
    if draw(st.integers(0, 4)) == 0:
        obj["exchange"] = draw(st.sampled_from([EXCHANGE] if plausible else [EXCHANGE, "binance"]))
    if draw(st.integers(0, 3)) == 0:
        obj["reasons"] = draw(reasons)
    return obj


@st.composite
def forbidden_intent(draw: st.DrawFn) -> dict[str, Any]:
    """A plausible entry that breaks exactly one documented rule: well-formed (stored), and
    never to be traded."""
    obj = draw(valid_intent(plausible=True, opening=True))
    rule = draw(
        st.sampled_from(["market", "exchange", "stale", "future", "moved", "size", "short"])
    )
    if rule == "market":
        obj["symbol"] = draw(st.sampled_from(["ADA/USDT", "NOPE/USDT", "BTC/USDT:USDT"]))
        for name in ("limit_price", "order_type", "post_only"):  # a market order
            obj.pop(name, None)
    elif rule == "exchange":
        obj["exchange"] = draw(st.sampled_from(["binance", "SIM", "kraken"]))
    elif rule == "stale":
        obj["timeframe"] = draw(st.sampled_from(["1m", "5m"]))
        limit = Rules.bar_seconds[obj["timeframe"]] + CONFIG.executor.intent_grace_seconds
        obj["decided_at"] = draw(rel(st.floats(-30 * 86400, -limit - 0.001)))
        obj.pop("bar_ts", None)
    elif rule == "future":
        skew = CONFIG.executor.clock_skew_seconds
        obj["decided_at"] = draw(rel(st.floats(skew + 0.001, 86400)))
        obj.pop("bar_ts", None)
    elif rule == "moved":
        mid = mid_of(obj["symbol"])
        obj["reference_price"] = draw(around(mid, 0.5, 0.975) | around(mid, 1.025, 2))
    elif rule == "size":
        obj.pop("quantity", None)
        obj["notional"] = draw(st.sampled_from([4.99, 400.01, 1e6]) | st.floats(1e-6, 4.9))
    else:
        obj["side"], obj["action"] = "sell", "open"
    return obj


HOSTILE_NUMBERS = (
    math.nan, math.inf, -math.inf, -1, -0.5, 0, 0.0, -0.0, 1e300, 10**400, 1e-300,
    "NaN", "nan", "Infinity", "100", "", True, False, [1.0], {"v": 1},
)  # fmt: skip
BAD_LABELS = (
    42, 1.5, None, True, "", " ", [], ["x"], {"x": 1},
    " padded", "padded ", "tab\there", "new\nline", "nul\x00", "bell\x07",
)  # fmt: skip
BAD_SYMBOLS = (*BAD_LABELS, "BTCUSDT", "BTC/USDT/X", "BTC/USDT:", "B" * 40 + "/USDT")
BAD_DATES = (
    "yesterday", "2025-13-40T00:00:00Z", "2025-03-03T12:00:00", "2025-03-03", 1_700_000_000,
    None, [], "", "9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+01:00",
)  # fmt: skip


def _set(
    name: str, values: tuple[Any, ...], drop: str | None = None
) -> Callable[[st.DrawFn, dict[str, Any]], None]:
    """Set ``name`` to one of ``values``; sometimes leave ``drop`` out (to be defaulted)."""

    def mutate(draw: st.DrawFn, obj: dict[str, Any]) -> None:
        obj[name] = draw(st.sampled_from(values))
        if drop and draw(st.booleans()):
            obj.pop(drop, None)

    return mutate


def _hostile_number(draw: st.DrawFn, obj: dict[str, Any]) -> None:
    name = draw(
        st.sampled_from(
            ["notional", "limit_price", "reference_price", "stop_loss", "take_profit",
             "trailing_stop_pct"]
        )
    )  # fmt: skip
    obj[name] = draw(st.sampled_from(HOSTILE_NUMBERS))
    if name == "limit_price":
        obj["order_type"] = "limit"


def _hostile_quantity(draw: st.DrawFn, obj: dict[str, Any]) -> None:
    obj.pop("notional", None)
    obj["quantity"] = draw(st.sampled_from(HOSTILE_NUMBERS))


def _remove(*names: str) -> Callable[[st.DrawFn, dict[str, Any]], None]:
    def mutate(draw: st.DrawFn, obj: dict[str, Any]) -> None:
        for name in names:
            obj.pop(name, None)

    return mutate


def _both_sizes(draw: st.DrawFn, obj: dict[str, Any]) -> None:
    obj["quantity"] = 1.0


def _limit_without_price(draw: st.DrawFn, obj: dict[str, Any]) -> None:
    obj["order_type"] = "limit"
    obj.pop("limit_price", None)


def _price_on_market(draw: st.DrawFn, obj: dict[str, Any]) -> None:
    obj["order_type"] = "market"
    obj["limit_price"] = 100.0


def _negative_limit(draw: st.DrawFn, obj: dict[str, Any]) -> None:
    obj["order_type"] = "limit"
    obj["limit_price"] = draw(st.sampled_from([-1, -100.0, -1e-9]))


def _post_only(draw: st.DrawFn, obj: dict[str, Any]) -> None:
    if draw(st.booleans()):
        obj.pop("limit_price", None)
        obj["order_type"] = "market"
        obj["post_only"] = True
    else:
        obj["order_type"], obj["limit_price"] = "limit", 99.0
        obj["post_only"] = draw(st.sampled_from(["yes", 1, 0, None, "true"]))


def _close_with_notional(draw: st.DrawFn, obj: dict[str, Any]) -> None:
    obj["side"], obj["action"] = "sell", "close"


def _unknown_field(draw: st.DrawFn, obj: dict[str, Any]) -> None:
    obj[draw(st.sampled_from(["notinal", "Symbol", "price", "foo", ""]))] = 50


def _bar_after_decision(draw: st.DrawFn, obj: dict[str, Any]) -> None:
    obj["decided_at"] = Rel(-120)
    obj["bar_ts"] = Rel(-60)


def _wrong_type(draw: st.DrawFn, obj: dict[str, Any]) -> None:
    """A container or a constant where the contract wants a word, a number or a date (with
    the field it would be derived from sometimes left out, so the default is computed)."""
    name = draw(st.sampled_from([f for f in FIELDS if f not in ("post_only", "reasons")]))
    wrong = [[], ["buy"], [1.0], {}, {"open": 1}, True]
    if name not in OPTIONAL_NUMBERS:  # null is "not given" for an optional number
        wrong.append(None)
    obj[name] = draw(st.sampled_from(wrong))
    partner = {"side": "action", "action": "side", "bar_ts": "decided_at"}.get(name)
    if partner and draw(st.booleans()):
        obj.pop(partner, None)


def _bad_date(draw: st.DrawFn, obj: dict[str, Any]) -> None:
    obj[draw(st.sampled_from(["decided_at", "bar_ts"]))] = draw(st.sampled_from(BAD_DATES))


MUTATIONS: tuple[Callable[[st.DrawFn, dict[str, Any]], None], ...] = (
    _hostile_number,
    _hostile_number,
    _wrong_type,
    _wrong_type,
    _bad_date,
    _hostile_quantity,
    _both_sizes,
    _remove("notional", "quantity"),
    _remove("symbol"),
    _remove("side", "action"),
    _limit_without_price,
    _price_on_market,
    _negative_limit,
    _post_only,
    _close_with_notional,
    _unknown_field,
    _bar_after_decision,
    _bad_date,
    _set("symbol", BAD_SYMBOLS),
    _set("strategy", (*BAD_LABELS, "a" * 65)),
    _set("exchange", (*BAD_LABELS, "x" * 33)),
    _set("side", ("long", "BUY", "", 1, None, ["buy"], {"buy": 1}), drop="action"),
    _set("action", ("buy", "OPEN", "", 0, None, ["open"], {"open": 1}), drop="side"),
    _set("order_type", ("stop", "LIMIT", "", None, ["market"])),
    _set("timeframe", ("7x", "", "1M", 60, None, ["1m"])),
    _set("intent_id", ("has-dash", "x" * 25, "", 5, None, ["a"], "spa ce")),
    _set("reasons", ("not json", "[1]", [1], 5, True)),
    _set("trailing_stop_pct", (1, 1.0, 1.5, 100)),
)


@st.composite
def bad_intent(draw: st.DrawFn) -> dict[str, Any]:
    """A valid opening buy (market, by notional) with one defect the contract refuses."""
    obj = draw(valid_intent(opening=True))
    for name in ("quantity", "limit_price", "order_type", "post_only"):
        obj.pop(name, None)
    obj["side"], obj["action"] = "buy", "open"
    obj["notional"] = draw(st.floats(5, 100))
    draw(st.sampled_from(MUTATIONS))(draw, obj)
    return obj


RAW_BAD = (
    "{not json", "[1, 2]", "42", '"BTC/USDT"', "null", "true", "{", "}", "NaN",
    '{"symbol": "BTC/USDT", "side": "buy", "notional": 5, "notional": 5000}',
    '{"symbol": "BTC/USDT", "side": "buy", "notional": 1' + "0" * 5000 + "}",
    "[" * 5000 + "]" * 5000,
    '{"symbol": "' + "A" * 20_000 + '/USDT", "side": "buy", "notional": 50}',
    '{"symbol": "BTC/USDT", "side": "buy", "notional": 50}}',
    "\ufeff{}",
)  # fmt: skip


def line_of(kind: str, payloads: st.SearchStrategy[Any]) -> st.SearchStrategy[Line]:
    return st.builds(Line, st.just(kind), payloads)


junk_values = (
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["buy", "sell", "open", "close", "limit", "1m", *CONFIGURED])
    | st.lists(st.integers(), max_size=2)
)
# (weight, lines): about half of the lines are plausible trades, a tenth break one rule.
LINE_MIX: tuple[tuple[int, st.SearchStrategy[Line]], ...] = (
    (6, line_of("valid", valid_intent(plausible=True))),
    (3, line_of("valid", valid_intent(plausible=True, opening=True))),
    (2, line_of("valid", forbidden_intent())),
    (1, line_of("valid", valid_intent())),
    (3, line_of("bad", bad_intent())),
    (1, line_of("bad", st.sampled_from(RAW_BAD))),
    (1, line_of("any", st.binary(max_size=40).map(lambda b: b.replace(b"\n", b" ")))),
    (1, line_of("any", st.text(max_size=40).map(lambda t: " ".join(t.splitlines())))),
    (
        1,
        line_of(
            "any",
            st.builds(
                lambda base, junk: {**base, **junk},
                valid_intent(),
                st.dictionaries(st.sampled_from(FIELDS), junk_values, max_size=3),
            ),
        ),
    ),
    (1, line_of("blank", st.sampled_from(["", "   ", "\t"]))),
)
lines = st.one_of([strategy for weight, strategy in LINE_MIX for _ in range(weight)])


@st.composite
def batch(draw: st.DrawFn) -> list[Line]:
    chosen = draw(st.lists(lines, min_size=3, max_size=12))
    # Resubmit some lines verbatim: identical repeats, or (no id) the same content hash.
    for index in draw(st.lists(st.integers(0, len(chosen) - 1), max_size=2)):
        chosen.append(chosen[index])
    return chosen


scenarios = st.builds(
    Scenario,
    batches=st.lists(batch(), min_size=1, max_size=3),
    commands=st.lists(
        st.tuples(
            st.integers(0, 5),
            st.sampled_from(["pause", "resume", "halt", "close-all", "close-position"]),
            st.sampled_from(CONFIGURED),
        ),
        max_size=2,
    ),
    moves=st.lists(st.tuples(st.floats(0, 0.06), st.floats(0, 0.06)), min_size=1, max_size=7),
    amounts=st.fixed_dictionaries({symbol: st.sampled_from([0.5, 5.0, 1000.0]) for symbol in MIDS}),
    cash=st.sampled_from([250.0, 500.0, 1500.0]),
    max_open=st.integers(1, 3),
)


# ---------------------------------------------------------------------------- the tests


@settings(
    max_examples=50,
    report_multiple_bugs=False,
    phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink),
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario=scenarios)
def test_random_and_hostile_intents_never_stop_the_executor_nor_trade_what_rules_forbid(
    trading_home: Path, scenario: Scenario
) -> None:
    with tempfile.TemporaryDirectory(dir=trading_home) as tmp:
        run = run_scenario(Path(tmp), scenario)
        try:
            check_all(run)
        finally:
            run.ledger.close()


# ----------------------------------------------- one deterministic test per issue defect


def _scripted(root: Path, *lines: Any) -> Run:
    """Submit ``lines`` (objects or raw text) as one batch and tick until settled."""
    run = Run(root, dict.fromkeys(MIDS, 1000.0))
    run.submit([Line("any", line) for line in lines])
    for _ in range(SETTLE_TICKS):
        run.tick((0.0, 0.0))
    return run


def _record(run: Run, line: int) -> Any:
    (item,) = [s for s in run.submitted if s.result["line"] == line]
    assert item.result["accepted"] is True, item.result
    record = run.ledger.intent(item.result["intent_id"])
    assert record is not None
    return record


BUY: dict[str, Any] = {"symbol": "BTC/USDT", "side": "buy", "notional": 50}


def test_nan_sizes_and_prices_never_stop_later_intents(trading_home: Path) -> None:
    """Defect 2: NaN notional/quantity/limit/reference price are refused and quarantined,
    and the intents behind them trade; a row already broken in the ledger is quarantined."""
    nan_lines = [
        {**BUY, "notional": math.nan},
        {"symbol": "BTC/USDT", "side": "buy", "quantity": math.nan},
        {**BUY, "order_type": "limit", "limit_price": math.nan},
        {**BUY, "reference_price": math.nan},
        {**BUY, "notional": "NaN"},
    ]
    run = _scripted(trading_home, *nan_lines, {**BUY, "intent_id": "after1"})
    results = [s.result for s in run.submitted]
    assert [r["accepted"] for r in results] == [False] * 5 + [True]
    assert all("must be a finite number" in r["reason"] for r in results[:4]), results
    assert "must be a number" in results[4]["reason"]
    assert len(run.ledger.quarantined_intents()) == 5
    assert run.ledger.intent("after1").status == "DONE"
    assert run.ledger.fills_since(), "the intent after the NaN lines filled"
    # A row that is already broken (the NULL that SQLite made of a NaN) is quarantined and
    # marked INVALID, and the executor trades the next one, on this start and the next.
    now = {"decided_at": Rel(0)}
    run.submit(
        [
            Line("any", {**BUY, **now, "intent_id": "broken1"}),
            Line("any", {**BUY, **now, "intent_id": "next1", "symbol": "ETH/USDT"}),
        ]
    )
    with run.ledger.engine.begin() as conn:
        conn.execute(
            sa.update(schema.intents)
            .where(schema.intents.c.intent_id == "broken1")
            .values(notional=None)
        )
    run.restart()
    run.tick((0.0, 0.0))
    assert run.ledger.intent_counts() == {"DONE": 2, "INVALID": 1}
    (kept,) = [q for q in run.ledger.quarantined_intents() if q["intent_id"] == "broken1"]
    assert kept["source"] == "ledger" and "broken intent row" in kept["reason"], kept
    assert run.ledger.intent("next1").status == "DONE"
    run.ledger.close()


def test_an_unconfigured_symbol_is_rejected_naming_the_market(trading_home: Path) -> None:
    """Defect 4: NOPE/USDT (no market at all) and ADA/USDT (a book, but not configured)."""
    run = _scripted(
        trading_home, {**BUY, "symbol": "NOPE/USDT"}, {**BUY, "symbol": "ADA/USDT"}, BUY
    )
    for line, symbol in ((1, "NOPE/USDT"), (2, "ADA/USDT")):
        record = _record(run, line)
        assert record.status == "REJECTED_BY_RISK", record
        assert symbol in record.status_reason and "configured" in record.status_reason
    assert {o.symbol for o in run.ledger.orders()} == {"BTC/USDT"}
    assert _record(run, 3).status == "DONE"
    check_all(run)
    run.ledger.close()


def test_an_entry_decided_30_days_ago_expires_and_a_late_exit_still_runs(
    trading_home: Path,
) -> None:
    """Defect 5: entries decided 30 and 395 days ago expire on the market clock; one from
    the future beyond the skew tolerance is invalid; a late close still closes."""
    day = 86400
    run = _scripted(
        trading_home,
        {**BUY, "decided_at": Rel(-30 * day)},
        {**BUY, "decided_at": Rel(-395 * day, "+02:00")},
        {**BUY, "decided_at": Rel(3600)},
        {**BUY, "symbol": "ETH/USDT", "timeframe": "1h", "decided_at": Rel(-3000)},
    )
    for line in (1, 2):
        record = _record(run, line)
        assert record.status == "EXPIRED", record
        assert "90" in record.status_reason, record  # one 1m bar + 30 s grace
    assert _record(run, 3).status == "INVALID"
    assert "ahead of the market clock" in _record(run, 3).status_reason
    assert _record(run, 4).status == "DONE"  # within one 1h bar plus grace
    assert {o.symbol for o in run.ledger.orders()} == {"ETH/USDT"}
    late_close = {"symbol": "ETH/USDT", "action": "close", "decided_at": Rel(-30 * day)}
    run.submit([Line("any", late_close)])
    run.tick((0.0, 0.0))
    assert run.ledger.open_positions() == []
    assert run.ledger.audit_entries("late_exit")
    check_all(run)
    run.ledger.close()


def test_a_duplicate_id_with_other_content_is_refused_and_audited(trading_home: Path) -> None:
    """Defect 8: the first content stands and trades; the other is refused and audited."""
    first = {**BUY, "intent_id": "desk7", "decided_at": Rel(-1)}
    other = {**first, "notional": 300}
    run = _scripted(trading_home, first, first, other)
    answers = [(s.result["accepted"], s.result["reason"]) for s in run.submitted]
    assert answers[:2] == [(True, "new"), (True, "duplicate of an existing identical intent")]
    assert answers[2][0] is False and "duplicate intent id desk7" in answers[2][1]
    assert "notional" in answers[2][1]
    (conflict,) = run.ledger.audit_entries("intent_conflict")
    assert conflict["subject"] == "desk7" and conflict["details"]["differs"] == ["notional"]
    record = run.ledger.intent("desk7")
    assert record.status == "DONE" and record.intent.notional == 50.0
    (order,) = run.ledger.orders()
    assert order.quantity * 100.0 <= 50.0
    check_all(run)
    run.ledger.close()


def test_a_negative_limit_price_is_refused(trading_home: Path) -> None:
    """Defect 8: a negative limit price never becomes an order."""
    run = _scripted(trading_home, {**BUY, "order_type": "limit", "limit_price": -5})
    (item,) = run.submitted
    assert item.result["accepted"] is False
    assert "limit_price must be positive" in item.result["reason"]
    assert run.ledger.orders() == []
    check_all(run)
    run.ledger.close()


def test_hostile_lines_through_the_console_script(trading_home: Path) -> None:
    """The installed ``trading`` script on stdin: every line answered, exit status 0."""
    url = f"sqlite:///{trading_home / 'script.sqlite'}"
    stdin = "\n".join(
        [
            '{"symbol": "BTC/USDT", "side": "buy", "notional": NaN}',
            '{"symbol": "BTC/USDT", "side": "buy", "notional": Infinity}',
            "not json at all",
            '["a", "list"]',
            '{"symbol": "NOPE/USDT", "side": "buy", "notional": 50}',
            json.dumps(BUY),
        ]
    )
    script = Path(sys.executable).parent / "trading"
    done = subprocess.run(
        [str(script), "intents", "submit", "-", "--ledger-url", url],
        input=stdin + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert [a["line"] for a in answers] == [1, 2, 3, 4, 5, 6]
    assert [a["accepted"] for a in answers] == [False, False, False, False, True, True]


# ------------------------------------------- defects this property found (they fail today)


@pytest.mark.parametrize(
    "line",
    [
        {"symbol": "BTC/USDT", "side": ["buy"], "notional": 50},  # no action: from the side
        {"symbol": "BTC/USDT", "action": {"open": 1}, "notional": 50},  # no side: from action
        {**BUY, "timeframe": ["1m"]},
        {**BUY, "decided_at": "9999-12-31T23:59:59-05:00"},  # past year 9999 in UTC
        {**BUY, "bar_ts": "0001-01-01T00:00:00+01:00"},  # before year 1 in UTC
    ],
    ids=["side-list", "action-object", "timeframe-list", "after-9999", "before-0001"],
)
def test_a_field_of_the_wrong_type_or_range_is_refused_and_the_next_line_processed(
    trading_home: Path, line: dict[str, Any]
) -> None:
    """A list or object where the contract wants a word, and a date whose conversion to UTC
    leaves the calendar, make an invalid line: answered and quarantined, never fatal to the
    CLI (today: TypeError/OverflowError, exit 1, the lines after it never submitted)."""
    run = Run(trading_home, dict.fromkeys(MIDS, 1000.0))
    run.submit([Line("bad", line), Line("valid", BUY)])  # exit status 0, one answer each
    assert [s.result["accepted"] for s in run.submitted] == [False, True]
    assert len(run.ledger.quarantined_intents()) == 1
    for _ in range(SETTLE_TICKS):
        run.tick((0.0, 0.0))
    check_all(run)
    run.ledger.close()


def test_cash_committed_to_a_resting_limit_entry_is_not_spent_twice(trading_home: Path) -> None:
    """The cash rule counts what working buy orders have committed: a resting limit entry of
    300 leaves 200 of 500 for the next entry, so cash never goes below zero when it fills."""
    now = {"decided_at": Rel(0)}
    resting = {**BUY, **now, "notional": 300, "limit_price": 95.0, "intent_id": "rest1"}
    spender = {**BUY, **now, "symbol": "ETH/USDT", "notional": 300, "intent_id": "spend1"}
    run = Run(trading_home, dict.fromkeys(MIDS, 1000.0))
    run.submit([Line("valid", resting), Line("valid", spender)])
    run.tick((0.0, 0.0))  # the limit rests below the market; the market buy is decided
    run.tick((0.1, 0.0))  # a candle trades through 95: the resting limit fills
    run.tick((0.0, 0.0))
    assert run.ledger.cash(QUOTE) >= 0, (
        run.ledger.cash(QUOTE),
        run.ledger.intent("rest1"),
        run.ledger.intent("spend1"),
    )
    check_all(run)
    run.ledger.close()


def test_a_repriced_limit_entry_never_spends_cash_it_does_not_have(trading_home: Path) -> None:
    """A limit entry resting below the market is repriced at the best bid for the same
    quantity: at the higher price it costs more than the cash it had committed, and another
    entry has spent the rest meanwhile. The reprice must be sized by (or refused for) the
    cash there is, so that cash never goes below zero when it fills."""
    now = {"decided_at": Rel(0)}
    resting = {**BUY, **now, "notional": 250, "limit_price": 90.0, "intent_id": "rest2"}
    spender = {**BUY, **now, "symbol": "ETH/USDT", "notional": 240, "intent_id": "spend2"}
    run = Run(trading_home, dict.fromkeys(MIDS, 1000.0))
    run.submit([Line("valid", resting), Line("valid", spender)])
    run.tick((0.0, 0.0))  # 2.78 BTC rest at 90 (250 committed); 240 of ETH fill
    run.tick((0.0, 0.0))  # the limit times out: repriced at the best bid, 99.99
    run.tick((0.001, 0.0))  # a candle trades through 99.99
    run.tick((0.0, 0.0))
    orders = [(o.client_order_id, o.price, o.quantity, o.state) for o in run.ledger.orders()]
    assert run.ledger.cash(QUOTE) >= 0, (run.ledger.cash(QUOTE), orders)
    check_all(run)
    run.ledger.close()
