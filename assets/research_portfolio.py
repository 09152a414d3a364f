"""The portfolio backtest in research: when the configuration lists ``strategies:``,
``research/backtests`` also runs every enabled instance with shared cash and the risk
protocol on (``trading_core.portfolio_backtest``, the engine of ``trading backtest --config``)
over the candle snapshot, and writes ``research.portfolio_instances`` (one row per instance,
plus ``portfolio``), ``research.portfolio_trades`` and ``research.portfolio_events``.

An instance reads the snapshot's series of its exchange, symbol and timeframe; a ``sim``
instance with no ``sim`` series reads the one exchange that has it (as
``portfolio_backtest.data`` does with files), and several are refused. A missing series is a
``dg.Failure`` naming the instance, the series and what the snapshot holds.
"""

from __future__ import annotations

import json
from typing import Any

import dagster as dg
import pandas as pd

from trading_core.timeframes import utc_now
from trading_pipelines.resources.research import ResearchWarehouse, save_table

SIM = "sim"
METRICS = ("total_return", "max_drawdown", "sharpe", "trades", "final_equity")
TRADE_COLUMNS = ("instance", "symbol", "entry_ts", "exit_ts", "exit_reason", "pnl")


def portfolio_enabled(strategy: Any) -> bool:
    """Whether the live configuration is a portfolio (a ``strategies:`` list)."""
    return bool(strategy.instances)


def _instances(strategy: Any) -> list[Any]:
    from trading_core.config_portfolio import InstanceConfig

    listed = [InstanceConfig.model_validate(raw) for raw in strategy.instances]
    return [inst for inst in listed if inst.enabled]


def snapshot_bars(
    conn: Any, store: ResearchWarehouse, instances: list[Any]
) -> dict[tuple[str, str], pd.DataFrame]:
    """Bars per (instance id, symbol) from the candle snapshot."""
    by_timeframe: dict[str, dict[tuple[str, str], pd.DataFrame]] = {}
    out: dict[tuple[str, str], pd.DataFrame] = {}
    for inst in instances:
        series = by_timeframe.setdefault(inst.timeframe, store.bars(conn, inst.timeframe, []))
        for symbol in inst.symbols:
            found = series.get((inst.exchange, symbol))
            if found is None and inst.exchange == SIM:
                others = [k for k in series if k[1] == symbol]
                if len(others) > 1:
                    raise dg.Failure(
                        f"instance {inst.id!r}: {symbol} {inst.timeframe} on sim is in the "
                        f"snapshot on several exchanges {sorted(e for e, _ in others)}; name "
                        "the exchange of the instance"
                    )
                found = series[others[0]] if others else None
            if found is None:
                held = sorted(f"{e} {s}" for e, s in series)
                raise dg.Failure(
                    f"instance {inst.id!r}: no {inst.exchange} {symbol} {inst.timeframe} "
                    f"candles in the research snapshot; it holds {held or 'none'} at "
                    f"{inst.timeframe}"
                )
            out[(inst.id, symbol)] = found
    return out


def portfolio_tables(report: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """The report of ``build_report`` as the three research tables."""
    rows = [{"instance": "portfolio", **{m: report["portfolio"][m] for m in METRICS}}]
    for iid, metrics in report["instances"].items():
        rows.append(
            {
                "instance": iid,
                **{m: metrics[m] for m in METRICS},
                "strategy": metrics["strategy"],
                "timeframe": metrics["timeframe"],
                "allocation": metrics["allocation"],
                "entries_refused": metrics["entries_refused"],
            }
        )
    trades = pd.DataFrame(
        [
            {
                **{k: v for k, v in t.items() if k not in ("exits", "reasons")},
                "exits": json.dumps(t["exits"], sort_keys=True),
                "reasons": json.dumps(t["reasons"], sort_keys=True),
            }
            for t in report["trades"]
        ]
    )
    if trades.empty:
        trades = pd.DataFrame(columns=list(TRADE_COLUMNS))
    events = pd.DataFrame(
        [{**e, "detail": json.dumps(e["detail"], sort_keys=True)} for e in report["events"]],
        columns=["ts", "kind", "instance", "detail"],
    )
    return {
        "portfolio_instances": pd.DataFrame(rows),
        "portfolio_trades": trades,
        "portfolio_events": events,
    }


def portfolio_results(
    context: dg.AssetExecutionContext, strategy: Any, store: ResearchWarehouse
) -> dict[str, Any]:
    """Run the portfolio backtest on the snapshot; save its tables; its metadata."""
    from trading_core.config import FeesConfig
    from trading_core.config_portfolio import ProtocolConfig
    from trading_core.portfolio_backtest.engine import run_portfolio
    from trading_core.portfolio_backtest.report import build_report

    instances = _instances(strategy)
    if not instances:
        raise dg.Failure("strategies: no enabled instance to backtest")
    protocol = ProtocolConfig.model_validate(strategy.protocol or {})
    fees = FeesConfig.model_validate(strategy.fees or {})
    with store.get_connection() as conn:
        bars = snapshot_bars(conn, store, instances)
        run = run_portfolio(instances, bars, protocol, fees, strategy.starting_cash)
        report = build_report(run)
        stamp = {"run_id": context.run.run_id, "created_at": utc_now()}
        tables = portfolio_tables(report)
        for name, frame in tables.items():
            save_table(conn, name, frame.assign(**stamp))
    kinds: dict[str, int] = {}
    for event in report["events"]:
        kinds[event["kind"]] = kinds.get(event["kind"], 0) + 1
    summary = tables["portfolio_instances"]
    return {
        "portfolio": dg.MetadataValue.json(report["portfolio"]),
        # instance-keyed: each instance's metrics under its id
        "portfolio_instances": dg.MetadataValue.json(report["instances"]),
        "portfolio_results": dg.MetadataValue.md(summary.to_markdown(index=False, floatfmt=".4g")),
        "portfolio_events": dg.MetadataValue.json(kinds),
        "portfolio_window": dg.MetadataValue.json(report["window"]),
        "portfolio_conventions": dg.MetadataValue.json(report["conventions"]),
    }
