"""The report's charts as matplotlib figures (Agg, no browser) and PNG bytes.

Each ``*_figure`` draws one frame of ``chart_data`` and nothing else, so a test can compare
the drawn lines with the data; :func:`png` renders a figure and closes it."""

from __future__ import annotations

import io
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from trading_core.reports.window import ReportWindow

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _figure(rows: int, height: float) -> Figure:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, height), dpi=100)
    fig.subplots(rows, 1, sharex=True, squeeze=False)
    return fig


def _shade(ax: Any, window: ReportWindow) -> None:
    ax.axvspan(window.start, window.end, color="tab:blue", alpha=0.08, label=window.label)


def _limits(ax: Any, times: pd.Series, window: ReportWindow, since: datetime | None) -> None:
    left = since if since is not None else window.start
    if len(times) and since is None:
        left = min(left, pd.Timestamp(times.min()).to_pydatetime())
    ax.set_xlim(left, window.end)


def equity_figure(
    equity: pd.DataFrame, window: ReportWindow, since: datetime | None = None
) -> Figure:
    """Top: equity per mode (solid) and its running peak (dotted); bottom: drawdown in %.
    ``since``: the left edge (default: the window's start or the first point)."""
    fig = _figure(2, 4.8)
    top, bottom = fig.axes
    for mode, series in equity.groupby("mode", sort=True):
        top.plot(series["as_of"], series["equity"], label=f"{mode} equity")
        top.plot(series["as_of"], series["peak"], linestyle=":", label=f"{mode} peak")
        bottom.fill_between(series["as_of"], -100.0 * series["drawdown"], 0.0, alpha=0.4)
        bottom.plot(series["as_of"], -100.0 * series["drawdown"], label=f"{mode} drawdown")
    _shade(top, window)
    _shade(bottom, window)
    _limits(top, equity["as_of"], window, since)
    top.set_title("Equity (quote currency), hourly, marked to the last known close")
    top.set_ylabel("equity")
    bottom.set_ylabel("drawdown %")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    if len(equity):
        top.legend(loc="best", fontsize=8)
    else:
        top.text(0.5, 0.5, "no fills yet", ha="center", transform=top.transAxes)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def pnl_figure(
    days: pd.DataFrame,
    instances: pd.DataFrame,
    window: ReportWindow,
    since: datetime | None = None,
) -> Figure:
    """Top: change of equity per day and mode; bottom: realized P&L net of fees per day,
    stacked by instance (``pnl_per_day`` and ``instance_pnl_per_day``)."""
    fig = _figure(2, 4.8)
    top, bottom = fig.axes
    width = pd.Timedelta(hours=20)
    modes = sorted(days["mode"].unique()) if len(days) else []
    for i, mode in enumerate(modes):
        series = days[days["mode"] == mode]
        offset = pd.Timedelta(hours=2) + width * i / max(len(modes), 1)
        top.bar(
            series["day"] + offset,
            series["pnl"],
            width=width / max(len(modes), 1),
            align="edge",
            label=f"{mode} equity change",
        )
    if len(instances):
        table = instances.pivot_table(
            index="day", columns="instance", values="realized_pnl_net", aggfunc="sum"
        ).fillna(0.0)
        positive = pd.Series(0.0, index=table.index)
        negative = pd.Series(0.0, index=table.index)
        for instance in table.columns:
            values = table[instance]
            base = positive.where(values >= 0, negative)
            bottom.bar(
                table.index + pd.Timedelta(hours=2),
                values,
                bottom=base,
                width=width,
                align="edge",
                label=str(instance),
            )
            positive = positive + values.clip(lower=0)
            negative = negative + values.clip(upper=0)
        bottom.legend(loc="best", fontsize=8, title="instance")
    _shade(top, window)
    _shade(bottom, window)
    _limits(top, days["day"] if len(days) else pd.Series(dtype="datetime64[ns]"), window, since)
    top.set_title("P&L per UTC day (quote currency)")
    top.set_ylabel("equity change")
    bottom.set_ylabel("realized net")
    for ax in (top, bottom):
        ax.axhline(0.0, color="black", linewidth=0.6)
        ax.grid(alpha=0.3)
    if modes:
        top.legend(loc="best", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def positions_figure(exposure: pd.DataFrame) -> Figure:
    """Market value of each open position (bars), labelled with its unrealized P&L."""
    fig = _figure(1, 0.6 + 0.4 * max(len(exposure), 1))
    (ax,) = fig.axes
    if len(exposure):
        bars = ax.barh(exposure["label"], exposure["market_value"], color="tab:green")
        labels = ["unmarked" if pd.isna(u) else f"{u:+,.2f}" for u in exposure["unrealized_pnl"]]
        ax.bar_label(bars, labels=labels, fontsize=8, padding=3)
    else:
        ax.text(0.5, 0.5, "flat: no open position", ha="center", transform=ax.transAxes)
    ax.set_title("Open positions: market value (quote), label = unrealized P&L")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


def png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    fig.clear()
    return buffer.getvalue()
