"""The risk protocol (``trading_core.protocol``) in the executor: the same pure code the
portfolio backtester calls, fed from the ledger.

The protocol is on when the configuration lists ``strategies:`` (``protocol_enabled``);
without the list the executor keeps today's flat risk gate and drawdown kill switch exactly.
When on:

- ``start`` loads the protocol's state from the ledger (``risk_state.protocol_state``) or
  starts it at the account's equity (the capital the instances' allocations share);
- ``observe`` (every tick, after the fills) records each sub-position that went flat since
  the last look as one closed trade (``record_close``: its net P&L, its exit reason from
  the role of its last exit order, its close time: the tier's record, the losing streaks,
  the locks, the adaptive record), then lets the protocol observe the account's equity:
  drawdown stages, capital preservation, tier changes. Each event (``streak_phase`` and
  ``lock`` included) goes to the audit log (``protocol_<kind>``) and to the alerts at its
  level; on ``capital_preservation_start`` it returns the sub-positions to close (all but
  winners up more than ``preservation.keep_winners_above``);
- ``refresh_market`` (every tick, before the intents) reads from the market what the rules
  need: each configured symbol's closes at ``correlation.timeframe`` and the last
  ``adaptive.bars_needed`` bars at each instance's timeframe (the volatility percentile),
  the bars the portfolio backtester reads at the same instant;
- ``decide`` answers an entry intent: ``decide_entry`` with the account (its open
  sub-positions and their closes for the correlation limit), the instance (its allocated
  capital plus its P&L, its open sub-positions) and the request (price, the intent's stop,
  ``reasons.atr``, ``reasons.size_fraction`` and ``reasons.score``, the composite score,
  when the strategy gave them; the instant of the last observation, for the locks);
- ``review`` is the operator's ``trading control review`` (``ValueError`` before the
  cooldown ends); ``review_instance`` ends an instance's losing-streak demotion.

Intents of the implicit ``manual`` instance are the operator's own: the protocol does not
size them, but refuses them during capital preservation. An instance id the configuration
does not know is refused.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from executor.intents import OrderIntent
from executor.ledger import Ledger
from executor.records import QTY_EPSILON, OrderRecord, Position
from trading_core.config import TradingConfig
from trading_core.config_portfolio import MANUAL_INSTANCE, InstanceConfig, instances_of
from trading_core.market.base import MarketSource
from trading_core.protocol import adaptive, correlation, gate
from trading_core.protocol.allocation import base_asset
from trading_core.protocol.drawdown import DrawdownState, ReviewedBy, positions_to_close
from trading_core.protocol.rules import RulesState
from trading_core.protocol.tiers import TierState
from trading_core.protocol.trades import ClosedTrade
from trading_core.timeframes import timeframe_delta, timeframe_seconds

# Closed trades alone are saved at most this often (an event or a state change saves now).
SAVE_EVERY = timedelta(seconds=60)
# The ledger order's role -> the trade's exit reason (the backtester's names).
EXIT_REASON_OF_ROLE = {"exit": "signal", "preservation": "capital_preservation"}
# Alert sender: (level, title, message, at) - executor.alerts.Alerter.send's shape.
AlertSender = Callable[[str, str, str, datetime], object]


def protocol_enabled(config: TradingConfig) -> bool:
    """The protocol runs for a portfolio (a ``strategies:`` list), not for today's single
    strategy (whose flat limits stay exactly as they were)."""
    return config.strategies.root is not None


def sub_key(position: Position) -> str:
    """``exchange:symbol:instance``, the protocol's name for a sub-position."""
    return f"{position.exchange}:{position.symbol}:{position.instance_id}"


@dataclass
class StoredProtocol:
    """What the ledger keeps: the protocol's state, the capital it started from, and each
    sub-position's realized P&L already counted (at start, or at its last close)."""

    state: gate.ProtocolState
    capital: float
    counted: dict[str, float] = field(default_factory=dict)
    origin: dict[str, float] = field(default_factory=dict)  # realized before the start

    def to_json(self) -> str:
        return json.dumps(
            {
                "tier": dataclasses.asdict(self.state.tier),
                "drawdown": dataclasses.asdict(self.state.drawdown),
                "rules": self.state.rules.to_dict(),
                "capital": self.capital,
                "counted": self.counted,
                "origin": self.origin,
            },
            default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v),
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> StoredProtocol:
        """Raises ``ValueError`` naming what is wrong with a stored state."""
        try:
            raw = json.loads(text)
            tier = dict(raw["tier"])
            tier["recent_pnl"] = tuple(tier.get("recent_pnl", ()))
            dd = dict(raw["drawdown"])
            for name in ("preservation_since", "cooldown_until"):
                if dd.get(name) is not None:
                    dd[name] = datetime.fromisoformat(dd[name])
            record = RulesState.from_dict(raw.get("rules", {}))
            state = gate.ProtocolState(TierState(**tier), DrawdownState(**dd), record)
            capital = float(raw["capital"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"risk_state.protocol_state is not a protocol state: {exc!r}") from exc
        if not math.isfinite(capital) or capital <= 0:
            raise ValueError(f"risk_state.protocol_state: capital must be > 0, got {capital}")
        return cls(state, capital, dict(raw.get("counted", {})), dict(raw.get("origin", {})))


@dataclass(frozen=True)
class Verdict:
    """An entry's answer: refused (``refusal`` says why) or sized (``decision``); manual
    entries pass with neither (today's gate sizes them)."""

    refusal: str | None = None
    decision: gate.EntryDecision | None = None
    reasons: dict[str, Any] = field(default_factory=dict)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


class ProtocolGate:
    def __init__(self, ledger: Ledger, config: TradingConfig, *, alert: AlertSender | None = None):
        self.ledger = ledger
        self.config = config.protocol
        self.instances: dict[str, InstanceConfig] = {i.id: i for i in instances_of(config)}
        self._quote = config.executor.quote_currency
        self.alert = alert
        self.stored: StoredProtocol | None = None
        self._dirty_since: datetime | None = None  # trades counted, not yet saved
        self.order = {iid: n for n, iid in enumerate(self.instances)}
        self.now: datetime | None = None  # the last observation's instant
        # What refresh_market read: closes per symbol, bars per (timeframe, symbol).
        self.closes: dict[str, correlation.Closes] = {}
        self.volatility: dict[tuple[str, str], float] = {}
        self._fetched: dict[tuple[str, str], datetime] = {}

    @property
    def state(self) -> gate.ProtocolState:
        if self.stored is None:
            raise RuntimeError("the protocol has not started (ProtocolGate.start)")
        return self.stored.state

    # ------------------------------------------------------------------------ life cycle

    def start(self, equity: float, now: datetime) -> None:
        text = self.ledger.protocol_state()
        if text is not None:
            self.stored = StoredProtocol.from_json(text)
            return
        if not math.isfinite(equity) or equity <= 0:
            raise ValueError(f"the protocol needs a positive account equity, got {equity}")
        realized = {sub_key(p): p.realized_pnl_net for p in self.ledger.positions()}
        self.stored = StoredProtocol(
            gate.start_state(self.config, equity, now), equity, dict(realized), dict(realized)
        )
        started = {"ts": now.isoformat() + "Z", "kind": "started", "instance": None,
                   "detail": {"capital": equity, "tier": self.state.tier.index + 1}}  # fmt: skip
        self.ledger.save_protocol_state(self.stored.to_json(), [started])

    def observe(self, equity: float, now: datetime) -> list[str]:
        """Count closed trades, observe the equity; the sub-positions (``sub_key``) that
        capital preservation closes now."""
        stored = self.stored
        assert stored is not None, "ProtocolGate.start first"
        self.now = now
        before = stored.state
        closed = self._count_closed_trades(stored)
        changed = bool(closed) or stored.state is not before
        state, events = gate.observe(self.config, stored.state, equity, now)
        events = closed + events
        closing: list[str] = []
        rows = [ev.to_dict() for ev in events]
        for ev in events:
            if ev.kind == "capital_preservation_start":
                closing = positions_to_close(
                    self._open_returns(), self.config.preservation.keep_winners_above
                )
                rows.append({"ts": now.isoformat() + "Z", "kind": "positions_closed",
                             "instance": None, "detail": {"closed": closing}})  # fmt: skip
        if changed and self._dirty_since is None:
            self._dirty_since = now
        # Trades counted but nothing else changed: saved at most every SAVE_EVERY (a restart
        # before that recounts them from the stored ``counted``, so none is lost or doubled).
        due = self._dirty_since is not None and now - self._dirty_since >= SAVE_EVERY
        if events or state is not stored.state or due:
            stored.state = state
            self.ledger.save_protocol_state(stored.to_json(), rows)
            self._dirty_since = None
        for ev in events:
            if ev.level and self.alert is not None:
                self.alert(ev.level, f"risk protocol: {ev.kind}", json.dumps(dict(ev.detail)), now)
        return closing

    def review(
        self, equity: float, now: datetime, by: str, reviewed_by: ReviewedBy = "operator"
    ) -> dict[str, Any]:
        """The operator's review after capital preservation; ``ValueError`` before the
        cooldown ends (or outside preservation). The executor never reviews by itself:
        ``reviewed_by="auto"`` is for a replay standing in for the backtest's automatic
        review (the scenario runner)."""
        stored = self.stored
        assert stored is not None, "ProtocolGate.start first"
        state, event = gate.review(self.config, stored.state, equity, now, reviewed_by)
        row = {**event.to_dict(), "reviewed_by_operator": by}
        stored.state = state
        self.ledger.save_protocol_state(stored.to_json(), [row], actor=f"operator:{by}")
        return row

    def review_instance(self, instance_id: str, now: datetime, by: str) -> dict[str, Any]:
        """The operator's review of an instance: a losing-streak demotion ends (its streak
        record starts afresh). ``ValueError`` for an instance the configuration lacks."""
        stored = self.stored
        assert stored is not None, "ProtocolGate.start first"
        if instance_id not in self.instances:
            raise ValueError(
                f"review: unknown instance {instance_id!r}; configured: {sorted(self.instances)}"
            )
        state, event = gate.review_instance(stored.state, instance_id, now)
        if event is None:
            return {"kind": "streak_phase", "instance": instance_id, "detail": {"unchanged": True}}
        row = {**event.to_dict(), "reviewed_by_operator": by}
        stored.state = state
        self.ledger.save_protocol_state(stored.to_json(), [row], actor=f"operator:{by}")
        return row

    def _count_closed_trades(self, stored: StoredProtocol) -> list[gate.ProtocolEvent]:
        """Record each sub-position gone flat since the last look (in close order, then the
        configuration's instance order, as the backtester meets them); their events."""
        closes: list[tuple[tuple[datetime, int, str], Position, float, OrderRecord | None]] = []
        for p in self.ledger.positions():
            key = sub_key(p)
            if abs(p.quantity) > QTY_EPSILON:
                continue
            pnl = p.realized_pnl_net - stored.counted.get(key, 0.0)
            if key in stored.counted and abs(pnl) < 1e-12:
                continue
            last = self.ledger.last_filled_sell(p.symbol, p.instance_id)
            at = last.updated_at if last is not None else p.updated_at
            order = (at, self.order.get(p.instance_id, len(self.order)), p.symbol)
            closes.append((order, p, pnl, last))
        events: list[gate.ProtocolEvent] = []
        for (at, _, _), p, pnl, last in sorted(closes, key=lambda c: c[0]):
            role = last.role if last is not None else "exit"
            entry = self._entry_value(p)
            trade = ClosedTrade(
                p.instance_id,
                p.symbol,
                at,
                pnl,
                pnl / entry if entry > 0 else 0.0,
                EXIT_REASON_OF_ROLE.get(role, role),
            )
            inst = self.instances.get(p.instance_id)
            timeframe = inst.timeframe if inst is not None else "1m"
            stored.state, raised = gate.record_close(self.config, stored.state, trade, timeframe)
            events += raised
            stored.counted[sub_key(p)] = p.realized_pnl_net
        return events

    def _entry_value(self, position: Position) -> float:
        """Quote spent on the position's entry (fill value and fee), from its entry order."""
        if not position.entry_intent_id:
            return 0.0
        for o in self.ledger.orders(intent_id=position.entry_intent_id):
            if o.role == "entry" and o.filled_quantity > 0:
                return o.filled_quantity * (o.average_price or 0.0) + (
                    o.fee if o.fee_currency in (None, self._quote) else 0.0
                )
        return 0.0

    # --------------------------------------------------------------------------- market

    def refresh_market(self, market: MarketSource, exchange: str, now: datetime) -> None:
        """Read the closes (correlation) and the bars (volatility) the rules need at ``now``;
        each series again only once a new bar of its timeframe has closed."""
        symbols = sorted({s for inst in self.instances.values() for s in inst.symbols})
        corr = self.config.correlation
        if corr.enabled:
            for symbol in symbols:
                if not self._due(corr.timeframe, symbol, now):
                    continue
                bars = market.fetch_ohlcv(
                    exchange, symbol, corr.timeframe, correlation.window_start(now, corr), now,
                    now=now,
                )  # fmt: skip
                ns = bars["ts"].astype("datetime64[ns]").astype("int64").tolist()
                self.closes[symbol] = (ns, bars["close"].astype(float).tolist())
        a = self.config.adaptive
        if a.enabled:
            needed = adaptive.bars_needed(a)
            for inst in self.instances.values():
                for symbol in inst.symbols:
                    if not self._due(inst.timeframe, symbol, now):
                        continue
                    start = now - timeframe_delta(inst.timeframe) * (2 * needed)
                    bars = market.fetch_ohlcv(exchange, symbol, inst.timeframe, start, now, now=now)
                    self.volatility[(inst.timeframe, symbol)] = adaptive.volatility_percentile(
                        bars["high"].astype(float).tolist()[-needed:],
                        bars["low"].astype(float).tolist()[-needed:],
                        bars["close"].astype(float).tolist()[-needed:],
                        a,
                    )

    def _due(self, timeframe: str, symbol: str, now: datetime) -> bool:
        step = timeframe_seconds(timeframe)
        epoch = datetime(1970, 1, 1)
        bucket = epoch + timedelta(seconds=(now - epoch).total_seconds() // step * step)
        key = (timeframe, symbol)
        if self._fetched.get(key) == bucket:
            return False
        self._fetched[key] = bucket
        return True

    def _open_returns(self) -> dict[str, float]:
        return {
            sub_key(p): p.market_value / (p.quantity * p.avg_entry_price) - 1.0
            for p in self.ledger.open_positions()
            if p.quantity > QTY_EPSILON and p.avg_entry_price > 0
        }

    # --------------------------------------------------------------------------- entries

    def decide(
        self, intent: OrderIntent, price: float, *, equity: float, cash: float, exchange: str
    ) -> Verdict:
        stored = self.stored
        assert stored is not None, "ProtocolGate.start first"
        instance_id = intent.instance or MANUAL_INSTANCE
        if instance_id == MANUAL_INSTANCE:
            if stored.state.drawdown.preserving:
                return Verdict("protocol: capital_preservation: no entries, manual ones included")
            return Verdict()
        inst = self.instances.get(instance_id)
        if inst is None:
            return Verdict(
                f"protocol: unknown instance {instance_id!r}; configured: "
                f"{sorted(self.instances)} (and {MANUAL_INSTANCE!r})"
            )
        subs = self.ledger.positions()
        held = [p for p in subs if abs(p.quantity) > QTY_EPSILON]
        exposure: dict[str, float] = {}
        for p in held:
            exposure[base_asset(p.symbol)] = exposure.get(base_asset(p.symbol), 0.0) + (
                p.market_value
            )
        mine = [p for p in subs if p.instance_id == instance_id and p.exchange == exchange]
        mine_open = [p for p in mine if abs(p.quantity) > QTY_EPSILON]
        realized = sum(p.realized_pnl_net - stored.origin.get(sub_key(p), 0.0) for p in mine)
        unrealized = sum(p.unrealized_pnl for p in mine_open)
        positions = {f"{p.instance_id}:{p.symbol}": p.symbol for p in held}
        wanted = {*positions.values(), intent.symbol}
        closes = {s: c for s, c in self.closes.items() if s in wanted} if positions else {}
        decision = gate.decide_entry(
            self.config,
            stored.state,
            gate.AccountView(equity, cash, len(held), exposure, positions, closes),
            gate.InstanceView(
                instance_id,
                inst.allocation * stored.capital + realized + unrealized,
                sum(p.market_value for p in mine_open),
                len(mine_open),
                inst.resolved_risk(),
            ),
            gate.EntryRequest(
                intent.symbol,
                price,
                strategy_stop=intent.stop_loss,
                atr=_number(intent.reasons.get("atr")),
                size_fraction=_number(intent.reasons.get("size_fraction")) or 1.0,
                now=self.now or intent.decided_at,
                score=_number(intent.reasons.get("score")),
                volatility=self.volatility.get((inst.timeframe, intent.symbol)),
            ),
        )
        reasons = decision.reasons.to_dict()
        if not decision.allowed or decision.stop is None:
            why = decision.reasons.refused_by or "no stop"
            return Verdict(f"protocol: {why}: {decision.reasons.detail}", decision, reasons)
        return Verdict(None, decision, reasons)

    def instance(self, instance_id: str | None) -> InstanceConfig | None:
        return self.instances.get(instance_id or MANUAL_INSTANCE)
