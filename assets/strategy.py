"""strategy/order_intents: evaluate the live strategy on new bars and hand intents to the
executor's ledger.

The decision for one bar is a plain function, ``evaluate_bar`` (bars, bar, strategy,
position, equity and cash, sizing settings, market clock -> an intent or none, and why): the
asset calls it for every bar the sensor names, and ``trading replay`` calls it for every bar
of a historical window, so history through the replay takes the live decisions. The strategy
object is the one the backtester runs (``trading_core.strategies``): ``decide`` reads the same
vectorised ``signals`` on the last ``evaluation_lookback`` bars, long enough for every
indicator to be its full-history value bit for bit. Long only: an entry commits
``position_sizing.entry_notional`` (risk.position_fraction of equity, never above cash;
equity and cash from the ledger, or the starting cash before the executor has seeded the
account), with ``position_sizing.exit_levels``; an exit closes all of it.

Bars come from ``fct_signals``, so a bar whose partition failed a blocking quality check is
never traded on: it is skipped, with the reason in the metadata. A bar that closed more than
one bar of its timeframe before the market clock (``market.as_of`` when set, so a replay is
judged on its own clock, else the wall clock) is too old to act on: it yields no entry, only
exits (they reduce exposure), and its outcome says why.
"""

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from assets.strategy_instances import InstancePlan, atr_lookback, plans
from executor.intents import Action, InvalidIntent, OrderIntent, Side, make_intent_id
from trading_core import position_sizing
from trading_core.indicators import atr
from trading_core.series import BarKey, SeriesKey
from trading_core.strategies import Decision, Strategy
from trading_core.timeframes import timeframe_delta, utc_now
from trading_core.warehouse import ensure_schema, replace_rows, transaction
from trading_pipelines.resources.ledger import LedgerResource
from trading_pipelines.resources.market import MarketDataResource
from trading_pipelines.resources.strategy import StrategyResource

INTENTS_KEY = dg.AssetKey(["strategy", "order_intents"])
SIGNALS_KEY = dg.AssetKey(["fct_signals"])


class EvaluationConfig(dg.Config):
    """Bars to evaluate (set by the new-bar sensor). Empty: the latest bar of every series
    of the strategy's timeframe."""

    bars: list[str] = []


BARS_QUERY = """
    select *
    from signals.fct_signals
    where exchange = ? and symbol = ? and timeframe = ? and ts <= ? {bound}
    order by ts desc
    limit ?
"""
# The bars are first sought within this many times their span: a time bound lets DuckDB skip
# the row groups of older history (the cost then does not grow with the stored history); a
# series with longer gaps in that span is read again without it.
LOOKBACK_SPAN_FACTOR = 3


def _load_bars(conn, bar: BarKey, lookback: int) -> pd.DataFrame:
    """The last ``lookback`` bars known when ``bar`` closed (point in time)."""
    key = [bar.exchange, bar.symbol, bar.timeframe, bar.ts]
    since = bar.ts - timeframe_delta(bar.timeframe) * lookback * LOOKBACK_SPAN_FACTOR
    frame = conn.execute(BARS_QUERY.format(bound="and ts > ?"), [*key, since, lookback]).df()
    if len(frame) < lookback:
        frame = conn.execute(BARS_QUERY.format(bound=""), [*key, lookback]).df()
    return frame.iloc[::-1].reset_index(drop=True)


def stale_entry(bar: BarKey, market_now: datetime) -> str | None:
    """Why an entry on ``bar`` would come too late (it closed more than one bar before the
    market clock), or None."""
    bar_length = timeframe_delta(bar.timeframe)
    age = market_now - (bar.ts + bar_length)
    if age <= bar_length:
        return None
    return (
        f"skipped entry: the bar closed {age.total_seconds():.0f} s before the market clock "
        f"{market_now.isoformat()}, more than one {bar.timeframe} bar; exits still run"
    )


def _latest_bars(conn, timeframe: str) -> list[BarKey]:
    rows = conn.execute(
        "select exchange, symbol, max(ts) from signals.fct_signals "
        "where timeframe = ? group by 1, 2 order by 1, 2",
        [timeframe],
    ).fetchall()
    return [BarKey(SeriesKey(exchange, symbol, timeframe), ts) for exchange, symbol, ts in rows]


class SizingSettings(Protocol):
    """What sizes an entry and sets its default exits (``StrategyResource`` has these; a
    replay passes its own, all-in, with the backtest's stop fractions)."""

    name: str
    params: dict[str, Any]
    position_fraction: float
    stop_loss_pct: float | None
    take_profit_pct: float | None
    trailing_stop_pct: float | None


def evaluation_lookback(strategy: Strategy, configured: int) -> int:
    """Bars handed to the strategy per evaluation: at least ``configured`` and twice the
    strategy's ``warmup_bars`` (plus the deciding bar and the one a crossing compares with).

    ``warmup_bars`` lets a recursive indicator forget its seed to 1e-9; twice that leaves a
    weight of 1e-18, below one ulp of the values, so the live values are the full-history
    floats bit for bit, not merely close (tests/assets/test_strategy_decision.py checks it on
    real data), and the cost stays bounded: it does not grow with the stored history."""
    return max(configured, 2 * strategy.warmup_bars + 2, strategy.warmup + 2)


def intent_for(
    bar: BarKey,
    decision: Decision,
    cfg: SizingSettings,
    equity: float,
    cash: float | None = None,
    *,
    instance: str | None = None,
    extra_reasons: dict[str, Any] | None = None,
) -> OrderIntent:
    """The intent for a strategy decision: entries sized by ``position_sizing.entry_notional``
    (a share of equity, never above cash), with the strategy's protective levels or, where
    it sets none, the configured fractions (``position_sizing.exit_levels``). ``instance``
    names the strategy instance (its id is part of the intent id, except ``default``'s);
    ``extra_reasons`` are added to the reasons (what the protocol sizes from)."""
    action: Action
    side: Side
    if decision.action == "enter":
        action, side = "open", "buy"
        notional: float | None = position_sizing.entry_notional(
            equity=equity,
            cash=equity if cash is None else cash,
            size_fraction=decision.size_fraction,
            position_fraction=cfg.position_fraction,
        )
        stop, take = position_sizing.exit_levels(
            decision.price,
            stop_loss=decision.stop_loss,
            take_profit=decision.take_profit,
        )  # the strategy's own levels; the executor applies the fractions to the fill price
        fractions = (cfg.stop_loss_pct, cfg.take_profit_pct)
        trailing = cfg.trailing_stop_pct
    else:
        action, side, notional, stop, take, trailing = "close", "sell", None, None, None, None
        fractions = (None, None)
    return OrderIntent(
        intent_id=make_intent_id(
            cfg.name, bar.exchange, bar.symbol, bar.timeframe, bar.ts, action, instance=instance
        ),
        strategy=cfg.name,
        exchange=bar.exchange,
        symbol=bar.symbol,
        timeframe=bar.timeframe,
        bar_ts=bar.ts,
        decided_at=bar.ts + timeframe_delta(bar.timeframe),
        side=side,
        action=action,
        order_type=decision.order_type,
        notional=notional,
        limit_price=decision.limit_price,
        reference_price=decision.price,
        stop_loss=stop,
        take_profit=take,
        trailing_stop_pct=trailing,
        notional_includes_fee=notional is not None,  # all-in: value + fee == notional
        stop_loss_pct=fractions[0],
        take_profit_pct=fractions[1],
        reasons={
            "strategy": cfg.name,
            "params": cfg.params,
            "why": decision.reason,
            **({"instance": instance} if instance is not None else {}),
            **(extra_reasons or {}),
        },
        instance=instance,
    )


def last_atr(history: pd.DataFrame, period: int) -> float | None:
    """Wilder's ATR(``period``) at the last bar of ``history`` (None before it exists), the
    portfolio backtester's ATR stop input (``trading_core.indicators.atr``)."""
    if len(history) <= period:
        return None
    value = float(atr(history["high"], history["low"], history["close"], period).iloc[-1])
    return value if math.isfinite(value) and value > 0 else None


@dataclass(frozen=True)
class BarEvaluation:
    """The outcome of evaluating one bar: an intent, or none and why (``outcome``)."""

    intent: OrderIntent | None
    outcome: str
    invalid: str | None = None  # the intent's validation error, when it could not be made


def composite_score(strategy: Strategy, history: pd.DataFrame) -> float | None:
    """The decided bar's composite score when the strategy gives one (``scores``), for the
    protocol's losing-streak thresholds; None when it gives none or it is not finite."""
    scores = getattr(strategy, "scores", None)
    if not callable(scores):
        return None
    value = float(pd.Series(scores(history)).iloc[-1])
    return value if math.isfinite(value) else None


def evaluate_bar(
    history: pd.DataFrame,
    bar: BarKey,
    strategy: Strategy,
    *,
    in_position: bool,
    equity: float,
    cash: float,
    cfg: SizingSettings,
    market_now: datetime,
    instance: str | None = None,
    atr_period: int | None = None,
    protocol: bool = False,
) -> BarEvaluation:
    """The live decision for ``bar``: the strategy on ``history`` (the bars known at its
    close, oldest first, ending with ``bar``), then the intent. The asset and ``trading
    replay`` both call this, so history through the replay takes the live decisions.

    A bar that is not the last row of ``history`` yields nothing (it is not in
    fct_signals); an entry on a bar too old for the market clock is skipped (``stale_entry``);
    an invalid intent (e.g. a NaN price) is reported in ``invalid``, never raised.

    ``instance`` names the strategy instance; ``protocol`` (a ``strategies:`` instance):
    the entry carries ``reasons.size_fraction`` and, with ``atr_period``, ``reasons.atr``
    (the executor's risk protocol sizes it from them)."""
    if history.empty or history["ts"].iloc[-1] != pd.Timestamp(bar.ts):
        return BarEvaluation(
            None,
            "skipped: bar not in fct_signals (missing, or its partition failed a blocking check)",
        )
    decision = strategy.decide(history, in_position=in_position)
    if decision is None:
        return BarEvaluation(None, "no action")
    too_late = stale_entry(bar, market_now) if decision.action == "enter" else None
    if too_late:
        return BarEvaluation(None, too_late)
    extra: dict[str, Any] = {}
    if protocol and decision.action == "enter":
        extra["size_fraction"] = decision.size_fraction
        if atr_period is not None:
            extra["atr"] = last_atr(history, atr_period)
        score = composite_score(strategy, history)
        if score is not None:
            extra["score"] = score
    try:
        intent = intent_for(
            bar, decision, cfg, equity, cash, instance=instance, extra_reasons=extra
        )
    except (InvalidIntent, ValueError) as exc:  # e.g. a NaN price: kept with its reason
        return BarEvaluation(None, f"invalid intent: {exc}", invalid=repr(decision))
    return BarEvaluation(intent, f"{intent.action} {intent.side}")


def _instance_bars(conn, plan: InstancePlan, named: list[BarKey]) -> list[BarKey]:
    """The bars ``plan`` evaluates: those the sensor named on its series; when the run names
    no bar of the instance's timeframe (none at all, or the sensor's bars are of the
    single-strategy timeframe and the instance trades another), the latest closed bar of
    each of its series. Evaluating a latest bar again is harmless: it gives the same intent
    id (the ledger keeps one), and a bar older than one bar of its timeframe takes no entry
    (``stale_entry``)."""
    if any(b.timeframe == plan.timeframe for b in named):
        return [b for b in named if plan.trades(b.exchange, b.symbol, b.timeframe)]
    return [
        b
        for b in _latest_bars(conn, plan.timeframe)
        if plan.trades(b.exchange, b.symbol, b.timeframe)
    ]


def _lookback(plan: InstancePlan) -> int:
    bars = evaluation_lookback(plan.strategy, plan.configured_lookback)
    return max(bars, atr_lookback(plan.atr_period)) if plan.atr_period else bars


@dataclass
class InstanceRun:
    """What one instance did in a run (the asset's instance-keyed metadata)."""

    plan: InstancePlan
    bars: int = 0
    intents: list[OrderIntent] = field(default_factory=list)
    new: int = 0
    outcomes: list[dict[str, str]] = field(default_factory=list)

    def summary(self, equity: float) -> dict[str, Any]:
        p = self.plan
        return {
            "strategy": p.sizing.name,
            "timeframe": p.timeframe,
            "series": sorted(f"{e}|{s}" for e, s in p.series) if p.series else "all",
            "allocation": p.allocation,
            "equity_used_for_sizing": equity * p.allocation,
            "bars_evaluated": self.bars,
            "intents": len(self.intents),
            "new_intents": self.new,
            "intent_ids": [i.intent_id for i in self.intents],
            "outcomes": self.outcomes,
        }


def evaluate_instances(
    conn, book, named: list[BarKey], runs: list[InstanceRun], equity: float, cash: float,
    market_now: datetime,
) -> None:  # fmt: skip
    """Every instance on its bars, in the configuration's order; intents go to the ledger
    instance by instance (so each instance's new-intent count is its own)."""
    held = {(p.exchange, p.symbol, p.instance_id) for p in book.open_positions()}
    for run in runs:
        plan = run.plan
        lookback = _lookback(plan)
        bars = _instance_bars(conn, plan, named)
        run.bars = len(bars)
        for bar in bars:
            result = evaluate_bar(
                _load_bars(conn, bar, lookback),
                bar,
                plan.strategy,
                in_position=(bar.exchange, bar.symbol, plan.id) in held,
                equity=equity * plan.allocation,
                cash=cash,
                cfg=plan.sizing,
                market_now=market_now,
                instance=plan.id,
                atr_period=plan.atr_period,
                protocol=plan.protocol,
            )
            if result.invalid is not None:
                book.quarantine_intent(
                    json.dumps({"bar": str(bar), "instance": plan.id, "decision": result.invalid}),
                    result.outcome,
                    source="strategy",
                )
            if result.intent is not None:
                run.intents.append(result.intent)
            run.outcomes.append({"bar": str(bar), "outcome": result.outcome})
        run.new = book.add_intents(run.intents) if run.intents else 0


@dg.asset(
    key=INTENTS_KEY,
    deps=[SIGNALS_KEY],
    group_name="strategy",
    kinds={"python", "duckdb"},
    pool="duckdb_warehouse",
    description=(
        "Order intents from evaluating every strategy instance (the `strategies:` list, else "
        "the single strategy as instance `default`) on each new bar, in one run. Written to "
        "the executor's ledger (idempotent intent ids: an instance's bar never yields two "
        "intents) and to strategy.order_intents in the warehouse with the reasons (their "
        "`instance` key names the instance). Metadata `instances` is keyed by instance id."
    ),
)
def order_intents(
    context: dg.AssetExecutionContext,
    config: EvaluationConfig,
    warehouse: DuckDBResource,
    ledger: LedgerResource,
    strategy: StrategyResource,
    market: MarketDataResource,
) -> dg.MaterializeResult:
    runs = [InstanceRun(plan) for plan in plans(strategy)]
    evaluated_at = utc_now()
    market_now = market.now()
    named = [BarKey.parse(b) for b in config.bars]
    with ledger.open() as book, warehouse.get_connection() as conn:
        ensure_schema(conn)
        account = book.account(strategy.quote_currency)
        seeded = account.equity > 0
        equity = account.equity if seeded else strategy.starting_cash
        cash = account.cash if seeded else strategy.starting_cash
        evaluate_instances(conn, book, named, runs, equity, cash, market_now)
        intents = [i for run in runs for i in run.intents]
        frame = pd.DataFrame([i.to_row() for i in intents])
        if not frame.empty:
            frame["run_id"] = context.run.run_id
            frame["evaluated_at"] = evaluated_at
            with transaction(conn):
                replace_rows(
                    conn,
                    "strategy.order_intents",
                    frame,
                    f"intent_id in ({', '.join('?' * len(frame))})",
                    list(frame["intent_id"]),
                )
    outcomes = [{"instance": run.plan.id, **outcome} for run in runs for outcome in run.outcomes]
    for outcome in outcomes:
        context.log.info(f"{outcome['instance']} {outcome['bar']}: {outcome['outcome']}")
    return dg.MaterializeResult(
        metadata={
            "strategy": strategy.name if not strategy.instances else "portfolio",
            "instance_ids": [run.plan.id for run in runs],
            "instances": dg.MetadataValue.json({run.plan.id: run.summary(equity) for run in runs}),
            "bars_evaluated": sum(run.bars for run in runs),
            "market_clock": market_now.isoformat(),
            "intents": len(intents),
            "new_intents": sum(run.new for run in runs),
            "equity_used_for_sizing": equity,
            "outcomes": dg.MetadataValue.json(outcomes),
            "intent_rows": dg.MetadataValue.md(
                frame.drop(columns=["reasons"]).to_markdown(index=False)
                if not frame.empty
                else "no intents"
            ),
            "reasons": dg.MetadataValue.json(
                {i.intent_id: json.loads(json.dumps(i.reasons, default=str)) for i in intents}
            ),
        }
    )
