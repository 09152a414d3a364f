"""Run a protocol scenario (``tests.protocol.scenarios``) through the paper executor.

The real ``executor.engine.Engine`` with its ledger (SQLite), ``PaperBroker`` and the
protocol gate trades the scenario's candles, played forward one bar close at a time:

1. the clock moves to the instant (a bar's close); each symbol's book is set at that bar's
   close (fills at the close, as the backtester's ``fill: close``) and its candle becomes
   visible (``1h`` protective candles: the stops trigger intrabar from the bar after entry);
   where the backtest would make its automatic review, the runner stands in for the
   operator and reviews (``reviewed_by="auto"``), the engine having none of its own;
2. a tick: the stops, the marks, and the protocol observing the account;
3. the scripted strategy, evaluated through the strategy interface on the bars so far,
   gives each instance's signal at this bar: an exit for a held sub-position, else an
   entry; each becomes an intent of its instance (the code location's job live);
4. a tick places them, and one more lets the protocol observe the account after them
   (the backtester observes after the instant's fills).

The outcome is built from the ledger and the audit log only: trades from the orders and
fills (one row per position, the entry order's protocol reasons), events from the
``protocol_*`` audit entries and refusals from the ``entry_decision`` ones.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from executor.brokers.paper import PaperBroker
from executor.engine import Engine, EngineOptions
from executor.intents import OrderIntent, make_intent_id
from executor.ledger import Ledger
from executor.orders import OrderState
from tests.executor.helpers import Clock, StubMarket
from tests.protocol.scenarios import STEP, T0, Outcome, Scenario, config_tree, frame
from trading_core.config import TradingConfig
from trading_core.config_portfolio import instances_of
from trading_core.indicators import atr
from trading_core.protocol.drawdown import auto_review_due
from trading_core.strategies import get_strategy

# The ledger order's role -> the backtester's exit reason.
EXIT_REASONS = {
    "exit": "signal",
    "stop_loss": "stop_loss",
    "take_profit": "take_profit",
    "trailing_stop": "trailing_stop",
    "preservation": "capital_preservation",
    "operator": "operator",
}
# Executor-only limits the scenario tables leave out: wide enough never to decide.
EXECUTOR_LIMITS = {"max_notional": 1e12, "min_notional": 0.0, "max_trades_per_day": 100_000,
                   "max_open_positions": 1_000, "position_fraction": 1.0}  # fmt: skip


def iso(moment: datetime) -> str:
    return moment.isoformat() + "Z"


def _tree(scenario: Scenario, symbols: list[str]) -> dict[str, Any]:
    tree = config_tree(scenario)
    tree["executor"] = {**tree.get("executor", {}), "exchange": "sim"}
    tree["risk"] = {**tree.get("risk", {}), **EXECUTOR_LIMITS}
    tree["fees"] = {**tree.get("fees", {}), "max_slippage_bps": 0.0}
    tree["market"] = {**tree.get("market", {}), "symbols": symbols, "exchanges": ["sim"]}
    return tree


def _candles(scenario: Scenario) -> dict[str, pd.DataFrame]:
    """One candle series per symbol: the exchange has one market per symbol, so instances
    trading the same symbol must share its table."""
    by_symbol: dict[str, pd.DataFrame] = {}
    for (iid, symbol), rows in scenario.candles.items():
        bars = frame(rows)[0]
        if symbol in by_symbol and not by_symbol[symbol].equals(bars):
            raise ValueError(f"instance {iid!r}: a second, different {symbol} candle table")
        by_symbol[symbol] = bars
    return by_symbol


def _signals(tree: dict[str, Any], config: TradingConfig, bars: dict[str, pd.DataFrame]):
    """(instance id, symbol) -> the scripted strategy's entry/exit frame over its bars."""
    out = {}
    for inst in instances_of(config):
        strategy = get_strategy(inst.strategy, inst.params)
        for symbol in inst.symbols:
            signals = strategy.compute(bars[symbol])
            signals.index = bars[symbol]["ts"]
            out[(inst.id, symbol)] = signals
    return out


def _scores(config: TradingConfig, bars: dict[str, pd.DataFrame]):
    """(instance id, symbol) -> bar open -> the intent's reasons the code location's job
    gives: the strategy's composite ``score`` where it has one, the ``atr`` of an instance
    whose stop is ATR-based."""
    out: dict[tuple[str, str], dict[pd.Timestamp, dict[str, float]]] = {}
    for inst in instances_of(config):
        strategy = get_strategy(inst.strategy, inst.params)
        risk = inst.resolved_risk()
        for symbol in inst.symbols:
            b = bars[symbol]
            series = strategy.scores(b)
            atr_values = (
                atr(b["high"], b["low"], b["close"], risk.atr_period).tolist()
                if risk.stop == "atr"
                else [float("nan")] * len(b)
            )
            rows: dict[pd.Timestamp, dict[str, float]] = {}
            for ts, score, a in zip(b["ts"], series, atr_values, strict=True):
                given = {k: float(v) for k, v in (("score", score), ("atr", a)) if v == v}
                if given:
                    rows[pd.Timestamp(ts)] = given
            out[(inst.id, symbol)] = rows
    return out


def run_in_paper_executor(
    scenario: Scenario, workdir: Path, restart_after: int | None = None
) -> Outcome:
    """The scenario through the paper executor; ``restart_after`` (a tick): a new broker
    and engine on the same ledger after that bar (a restart, which must change nothing)."""
    bars = _candles(scenario)
    tree = _tree(scenario, sorted(bars))
    config = TradingConfig.model_validate(tree)
    signals = _signals(tree, config, bars)
    scores = _scores(config, bars)
    instances = instances_of(config)
    clock = Clock(T0)
    market = StubMarket(clock)
    ledger = Ledger(f"sqlite:///{workdir / 'paper.sqlite'}", clock=clock)

    def new_engine() -> Engine:
        # The candles' own timeframe: a protective exit fills at the close of its candle.
        broker = PaperBroker(market, exchange="sim", fees=config.fees, clock=clock,
                             candle_timeframe="1h")  # fmt: skip
        return Engine(ledger, broker, market, config, EngineOptions(protective_timeframe="1h"),
                      clock=clock)  # fmt: skip

    engine = new_engine()
    first = min(b["ts"].iloc[0] for b in bars.values()).to_pydatetime()
    for symbol, bar in bars.items():  # the books before the first close: the first opens
        market.set_book(symbol, float(bar["open"].iloc[0]), amount=1e12, spread=0.0, step=0.0)
    clock.now = first
    engine.start()
    protocol = engine.protocol
    assert protocol is not None, "a scenario's config lists strategies: the protocol is on"
    opens = sorted({ts.to_pydatetime() for b in bars.values() for ts in b["ts"]})
    for opened in opens:
        close = opened + STEP
        clock.now = close
        for symbol, b in bars.items():
            row = b[b["ts"] == pd.Timestamp(opened)]
            if row.empty:
                continue
            r = row.iloc[0]
            market.add_candle(symbol, opened, r.open, r.high, r.low, r.close)
            market.set_book(symbol, float(r.close), amount=1e12, spread=0.0, step=0.0)
        if config.protocol.preservation.auto_review_in_backtest and auto_review_due(
            protocol.state.drawdown, close
        ):
            protocol.review(engine._equity(), close, "scenario", reviewed_by="auto")
        engine.tick()
        intents = []
        for inst in instances:
            for symbol in inst.symbols:
                sig = signals[(inst.id, symbol)]
                if pd.Timestamp(opened) not in sig.index:
                    continue
                held = ledger.position("sim", symbol, inst.id)
                holding = held is not None and held.quantity > 0
                price = float(bars[symbol].set_index("ts").loc[pd.Timestamp(opened), "close"])
                if holding and bool(sig.loc[pd.Timestamp(opened), "exit"]):
                    intents.append(_intent(inst.id, symbol, opened, "close", price))
                elif not holding and bool(sig.loc[pd.Timestamp(opened), "entry"]):
                    reasons = dict(scores[(inst.id, symbol)].get(pd.Timestamp(opened), {}))
                    intents.append(_intent(inst.id, symbol, opened, "open", price, reasons))
        if intents:
            ledger.add_intents(intents)
            engine.tick()
            engine.tick()
        if restart_after is not None and opened == T0 + STEP * restart_after:
            engine = new_engine()
            engine.start()
            protocol = engine.protocol
            assert protocol is not None
    outcome = Outcome(_trades(ledger), _events(ledger))
    ledger.close()
    return outcome


def _intent(
    iid: str, symbol: str, opened: datetime, action: str, price: float,
    reasons: dict[str, float] | None = None,
) -> OrderIntent:  # fmt: skip
    return OrderIntent(
        intent_id=make_intent_id(f"scripted-{iid}", "sim", symbol, "1h", opened, action),
        strategy="scripted", exchange="sim", symbol=symbol, timeframe="1h", bar_ts=opened,
        decided_at=opened + STEP, side="buy" if action == "open" else "sell", action=action,
        notional=1e9 if action == "open" else None, reference_price=price, instance=iid,
        reasons=reasons or {},
    )  # fmt: skip


def _trades(ledger: Ledger) -> list[dict[str, Any]]:
    """One row per position: its entry fill, its exit fill (None while open)."""
    rows: list[dict[str, Any]] = []
    fills = ledger.fills_since(None)
    orders = {o.client_order_id: o for o in ledger.orders()}
    open_rows: dict[tuple[str, str], dict[str, Any]] = {}
    for f in fills:
        order = orders[f.client_order_id or ""]
        key = (f.instance_id or "", f.symbol)
        if order.role == "entry":
            reasons = json.loads((order.reason or "").removeprefix("protocol ") or "{}")
            row = open_rows.get(key)
            if row is None:
                row = {"instance": key[0], "symbol": f.symbol, "entry_ts": iso(f.event_time),
                       "exit_ts": None, "exit_reason": None, "quantity": 0.0,
                       "entry_value": 0.0, "tier": reasons.get("tier"),
                       "size_multiplier": reasons.get("size_multiplier"),
                       "reasons": reasons, "exits": []}  # fmt: skip
                open_rows[key] = row
                rows.append(row)
            row["quantity"] += f.quantity
            row["left"] = row.get("left", 0.0) + f.quantity
            row["entry_value"] += f.quantity * f.price
        elif key in open_rows:  # an exit fill: partial until nothing is left
            row = open_rows[key]
            row["left"] -= f.quantity
            row["exits"].append({"ts": iso(f.event_time), "quantity": f.quantity,
                                 "price": f.price,
                                 "reason": EXIT_REASONS.get(order.role, order.role)})  # fmt: skip
            if row["left"] <= 1e-9 and order.state == OrderState.FILLED:
                open_rows.pop(key)
                row["exit_ts"] = iso(f.event_time)
                row["exit_reason"] = EXIT_REASONS.get(order.role, order.role)
    rows.sort(key=lambda t: (t["entry_ts"], t["instance"], t["symbol"]))
    return rows


def _events(ledger: Ledger) -> list[dict[str, Any]]:
    entries = sorted(ledger.audit_entries(limit=100_000), key=lambda e: e["id"])
    events: list[dict[str, Any]] = []
    for entry in entries:
        details = entry["details"]
        if entry["event"].startswith("protocol_") and "kind" in details:
            events.append({k: details[k] for k in ("ts", "kind", "instance", "detail")})
        elif entry["event"] == "entry_decision" and details.get("refused_by"):
            detail = {k: v for k, v in details.items() if k != "instance"}
            events.append({"ts": iso(entry["at"]), "kind": "entry_refused",
                           "instance": details["instance"], "detail": detail})  # fmt: skip
    return events
