"""strategy/order_intents: evaluate the live strategy on new bars and hand intents to the
executor's ledger.

The strategy object is the one the backtester runs (``trading_core.strategies``): the live
path calls ``decide`` on the bars known at the decision time, which is derived from the same
vectorised ``signals`` the backtester uses. Long only: an entry opens a position with a
fraction of equity (risk.position_fraction; equity from the ledger, or the starting cash
before the executor has seeded the account), an exit closes all of it.

Bars come from ``fct_signals``, so a bar whose partition failed a blocking quality check is
never traded on: it is skipped, with the reason in the metadata. A bar that closed more than
one bar of its timeframe before the market clock (``market.as_of`` when set, so a replay is
judged on its own clock, else the wall clock) is too old to act on: it yields no entry, only
exits (they reduce exposure), and its outcome says why.
"""

import json
from datetime import datetime

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from executor.intents import InvalidIntent, OrderIntent, make_intent_id
from trading_core.series import BarKey, SeriesKey
from trading_core.strategies import Decision
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


def _load_bars(conn, bar: BarKey, lookback: int) -> pd.DataFrame:
    """The last ``lookback`` bars known when ``bar`` closed (point in time)."""
    return (
        conn.execute(
            """
        select *
        from signals.fct_signals
        where exchange = ? and symbol = ? and timeframe = ? and ts <= ?
        order by ts desc
        limit ?
        """,
            [bar.exchange, bar.symbol, bar.timeframe, bar.ts, lookback],
        )
        .df()
        .iloc[::-1]
        .reset_index(drop=True)
    )


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


def intent_for(
    bar: BarKey, decision: Decision, cfg: StrategyResource, equity: float
) -> OrderIntent:
    """The intent for a strategy decision: entries sized as a fraction of equity, with the
    strategy's protective levels or, where it sets none, the configured percentages."""
    if decision.action == "enter":
        fraction = min(decision.size_fraction or 1.0, 1.0) * cfg.position_fraction
        close = decision.price
        action, side = "open", "buy"
        notional = round(equity * fraction, 8)
        stop = decision.stop_loss or close * (1.0 - cfg.stop_loss_pct)
        take = decision.take_profit or close * (1.0 + cfg.take_profit_pct)
        trailing = cfg.trailing_stop_pct
    else:
        action, side, notional, stop, take, trailing = "close", "sell", None, None, None, None
    return OrderIntent(
        intent_id=make_intent_id(cfg.name, bar.exchange, bar.symbol, bar.timeframe, bar.ts, action),
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
        reasons={"strategy": cfg.name, "params": cfg.params, "why": decision.reason},
    )


@dg.asset(
    key=INTENTS_KEY,
    deps=[SIGNALS_KEY],
    group_name="strategy",
    kinds={"python", "duckdb"},
    pool="duckdb_warehouse",
    description=(
        "Order intents from evaluating the live strategy on each new bar. Written to the "
        "executor's ledger (idempotent intent ids: a bar never yields two intents) and to "
        "strategy.order_intents in the warehouse with the strategy's reasons."
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
    live = strategy.build()
    lookback = max(strategy.lookback_bars, live.warmup + 2)
    evaluated_at = utc_now()
    market_now = market.now()
    intents: list[OrderIntent] = []
    outcomes: list[dict[str, str]] = []
    with ledger.open() as book, warehouse.get_connection() as conn:
        ensure_schema(conn)
        bars = [BarKey.parse(b) for b in config.bars] or _latest_bars(conn, strategy.timeframe)
        account = book.account(strategy.quote_currency)
        equity = account.equity if account.equity > 0 else strategy.starting_cash
        held = {(p.exchange, p.symbol) for p in book.open_positions()}
        for bar in bars:
            history = _load_bars(conn, bar, lookback)
            if history.empty or history["ts"].iloc[-1] != pd.Timestamp(bar.ts):
                outcomes.append(
                    {
                        "bar": str(bar),
                        "outcome": "skipped: bar not in fct_signals "
                        "(missing, or its partition failed a blocking check)",
                    }
                )
                continue
            decision = live.decide(history, in_position=(bar.exchange, bar.symbol) in held)
            if decision is None:
                outcomes.append({"bar": str(bar), "outcome": "no action"})
                continue
            too_late = stale_entry(bar, market_now) if decision.action == "enter" else None
            if too_late:
                outcomes.append({"bar": str(bar), "outcome": too_late})
                continue
            try:
                intent = intent_for(bar, decision, strategy, equity)
            except InvalidIntent as exc:  # e.g. a NaN price: kept with its reason, not fatal
                book.quarantine_intent(
                    json.dumps({"bar": str(bar), "decision": repr(decision)}),
                    str(exc),
                    source="strategy",
                )
                outcomes.append({"bar": str(bar), "outcome": f"invalid intent: {exc}"})
                continue
            intents.append(intent)
            outcomes.append({"bar": str(bar), "outcome": f"{intent.action} {intent.side}"})
        new = book.add_intents(intents)
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
    for outcome in outcomes:
        context.log.info(f"{outcome['bar']}: {outcome['outcome']}")
    return dg.MaterializeResult(
        metadata={
            "strategy": strategy.name,
            "bars_evaluated": len(bars),
            "market_clock": market_now.isoformat(),
            "intents": len(intents),
            "new_intents": new,
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
