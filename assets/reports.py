"""reports/daily_report: the day's P&L, trades and open positions, with an equity-curve PNG.

Written as Markdown under TRADING_HOME/reports/ and shown in the Dagster UI as asset
metadata. Partitioned by UTC day: the schedule writes yesterday's complete report shortly
after midnight; materializing today's partition shows the day so far.
"""

import base64
import io
from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

REPORT_KEY = dg.AssetKey(["reports", "daily_report"])
REPORT_DEPS = [
    dg.AssetKey(["fct_daily_pnl"]),
    dg.AssetKey(["fct_positions"]),
    dg.AssetKey(["fct_trade_journal"]),
    dg.AssetKey(["fct_equity_curve"]),
]


def _table(frame: pd.DataFrame, empty: str) -> str:
    return frame.to_markdown(index=False, floatfmt=".6g") if len(frame) else f"_{empty}_"


def equity_png(curve: pd.DataFrame, day: date) -> bytes:
    """Equity curve up to the end of ``day`` (matplotlib, no browser needed)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=100)
    for mode, series in curve.groupby("mode"):
        ax.plot(series["as_of"], series["equity"], label=f"{mode} equity")
    ax.axvspan(
        datetime.combine(day, datetime.min.time()),
        datetime.combine(day + timedelta(days=1), datetime.min.time()),
        color="tab:blue",
        alpha=0.08,
        label=f"{day.isoformat()} (UTC)",
    )
    ax.set_title("Equity (quote currency), hourly, marked to the last known close")
    ax.grid(alpha=0.3)
    if len(curve):
        ax.legend(loc="best", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def render_report(
    day: date,
    pnl: pd.DataFrame,
    trades: pd.DataFrame,
    positions: pd.DataFrame,
    png_name: str,
    conventions: str,
) -> str:
    lines = [f"# Daily report — {day.isoformat()} (UTC)", ""]
    if pnl.empty:
        lines += ["_No fills yet: equity is the starting cash._", ""]
    else:
        lines += ["## P&L", "", _table(pnl, "no P&L"), ""]
    lines += [f"![equity curve]({png_name})", ""]
    lines += ["## Trades", "", _table(trades, "no trades this day"), ""]
    lines += ["## Open positions (end of day or now)", "", _table(positions, "flat"), ""]
    lines += ["## Conventions", "", conventions, ""]
    return "\n".join(lines)


CONVENTIONS = (
    "Realized P&L by the average-cost method per mode/exchange/symbol, gross and net of "
    "fees; `fee` is in `fee_currency` (a fee in the base asset reduces the quantity), "
    "`fee_quote` is its value in the quote currency at fill time (a BNB fee without a price "
    "is marked unvalued, never added to quote amounts); unrealized P&L and equity marked to "
    "the last candle close known at each instant. Paper fills follow the fill conventions in the "
    "README (reference price = signal bar close; book walk with capped slippage; taker fee)."
)


def build_daily_report_asset(
    partitions: dg.PartitionsDefinition, reports_dir: Path
) -> dg.AssetsDefinition:
    @dg.asset(
        key=REPORT_KEY,
        deps=REPORT_DEPS,
        partitions_def=partitions,
        pool="duckdb_warehouse",
        group_name="reports",
        kinds={"python", "markdown"},
        # today's report follows the fills as they are journaled; past days are final
        automation_condition=dg.AutomationCondition.eager(),
        description="The day's P&L, trades, open positions and equity curve (Markdown + PNG).",
    )
    def daily_report(
        context: dg.AssetExecutionContext, warehouse: DuckDBResource
    ) -> dg.MaterializeResult:
        day = date.fromisoformat(context.partition_key)
        start = datetime.combine(day, datetime.min.time())
        end = start + timedelta(days=1)
        with warehouse.get_connection() as conn:
            pnl = conn.execute("select * from journals.fct_daily_pnl where day = ?", [day]).df()
            trades = conn.execute(
                """select event_time, mode, strategy, symbol, side, quantity, price, fee,
                          fee_currency, fee_quote, realized_pnl_gross, realized_pnl_net, role,
                          slippage_bps
                   from journals.fct_trade_journal
                   where event_time >= ? and event_time < ? order by sequence""",
                [start, end],
            ).df()
            positions = conn.execute(
                """select mode, exchange, symbol, quantity, average_cost, mark_price,
                          unrealized_pnl from journals.fct_positions"""
            ).df()
            curve = conn.execute(
                "select mode, as_of, equity from journals.fct_equity_curve "
                "where as_of <= ? order by as_of",
                [end],
            ).df()
        folder = reports_dir
        folder.mkdir(parents=True, exist_ok=True)
        png = equity_png(curve, day)
        png_path = folder / f"equity_{day.isoformat()}.png"
        png_path.write_bytes(png)
        report = render_report(day, pnl, trades, positions, png_path.name, CONVENTIONS)
        report_path: Path = folder / f"daily_report_{day.isoformat()}.md"
        report_path.write_text(report)
        inline = base64.b64encode(png).decode()
        day_pnl = float(pnl["pnl"].sum()) if len(pnl) else 0.0
        return dg.MaterializeResult(
            metadata={
                "day": day.isoformat(),
                "pnl": day_pnl,
                "equity": float(pnl["equity"].iloc[-1]) if len(pnl) else None,
                "trades": len(trades),
                "open_positions": len(positions),
                "report_path": dg.MetadataValue.path(str(report_path)),
                "equity_png": dg.MetadataValue.path(str(png_path)),
                "report": dg.MetadataValue.md(
                    report.replace(
                        f"![equity curve]({png_path.name})",
                        f"![equity curve](data:image/png;base64,{inline})",
                    )
                ),
            }
        )

    return daily_report
