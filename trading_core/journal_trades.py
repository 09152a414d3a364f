"""Round trips of the trade journal: one row per position, flat to flat.

``round_trips`` sums a journal (``trading_core.journal.build_journal``) per round trip;
``trades`` adds what a trading journal needs to learn from a trade: entry and exit prices,
holding period, exit reason, the maximum favourable and adverse excursion (MFE/MAE) from the
candles of the holding period, and the signals and market conditions at the entry bar.

MFE/MAE are fractions of the average entry price, signed so that MFE >= 0 is the best move
in the trade's favour and MAE <= 0 the worst against it (a long's MFE is
``max(high) / entry - 1``; a short's ``1 - min(low) / entry``). They use every candle of the
trade's timeframe that overlaps the holding period (entry and exit bars in full, so a move
inside the entry bar before the fill counts: candles do not say when within a bar a price
traded) and the trade's own fill prices. An open trade runs to the newest candle.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

TECHNICAL_INPUTS: tuple[str, ...] = ("macd", "rsi", "bollinger", "trend")

ROUND_TRIP_COLUMNS = [
    "round_trip", "strategy", "opened_at", "closed_at", "fills", "entry_quantity",
    "realized_pnl_gross", "fee_quote", "realized_pnl_net", "fees_unvalued", "is_closed",
]  # fmt: skip

TRADE_COLUMNS = [
    "direction", "timeframe", "entry_intent_id", "entry_price", "exit_price", "max_quantity",
    "holding_seconds", "exit_reason", "mfe", "mae", "mfe_price", "mae_price", "entry_bar_ts",
    "entry_score", "entry_confidence", "entry_action", "technical_score", "sentiment_score",
    "regime", "volatility", "onchain_at_entry",
]  # fmt: skip

# On-chain series are daily at best (blockchain.com charts: every ~4 days): a value older
# than this at the entry does not describe the market of the entry.
ONCHAIN_MAX_AGE = pd.Timedelta(days=7)

_CLIENT_ORDER_ID = re.compile(r"^tp-[A-Za-z0-9]+-([a-z])\d+$")


def _book_keys(frame: pd.DataFrame) -> list[str]:
    return [c for c in ("mode", "exchange", "symbol", "instance_id") if c in frame.columns]


def round_trips(journal: pd.DataFrame) -> pd.DataFrame:
    """One row per round trip (closed or still open): gross P&L, fees in quote, net P&L.

    ``realized_pnl_net`` and ``fee_quote`` are null when a fee of the trip could not be
    valued in quote (``fees_unvalued`` counts those fills)."""
    keys = _book_keys(journal)
    if journal.empty:
        return pd.DataFrame(columns=[*keys, *ROUND_TRIP_COLUMNS])
    needed = [*keys, "round_trip", "strategy", "event_time", "quantity", "role",
              "realized_pnl_gross", "fee_quote", "realized_pnl_net", "fee_unvalued"]  # fmt: skip
    frame = journal[[c for c in needed if c in journal.columns]].copy()
    if "strategy" not in frame.columns:
        frame["strategy"] = None
    frame["closing"] = frame["role"] == "close"
    grouped = frame.groupby([*keys, "round_trip"], sort=True, dropna=False)
    trips = grouped.agg(
        strategy=("strategy", "first"),
        opened_at=("event_time", "min"),
        last_fill_at=("event_time", "max"),
        fills=("quantity", "size"),
        entry_quantity=("quantity", "first"),
        realized_pnl_gross=("realized_pnl_gross", "sum"),
        fee_quote=("fee_quote", "sum"),
        realized_pnl_net=("realized_pnl_net", "sum"),
        fees_unvalued=("fee_unvalued", "sum"),
        is_closed=("closing", "any"),
    ).reset_index()
    trips["fees_unvalued"] = trips["fees_unvalued"].astype(int)
    # a null fee (unvalued) makes the trip's fees and net P&L unknown, not smaller
    unknown = trips["fees_unvalued"] > 0
    trips[["fee_quote", "realized_pnl_net"]] = trips[["fee_quote", "realized_pnl_net"]].where(
        ~unknown, np.nan
    )
    trips["closed_at"] = trips["last_fill_at"].where(trips["is_closed"])
    return trips[[*keys, *ROUND_TRIP_COLUMNS]]


def exit_reason(client_order_id: object, role_codes: Mapping[str, str]) -> str:
    """The order role behind a closing fill (``stop_loss``, ``take_profit``,
    ``trailing_stop``, ``exit`` for a strategy's close, ``operator``, ...) from our
    deterministic client order id; ``external`` for an order we did not place."""
    match = _CLIENT_ORDER_ID.match(client_order_id) if isinstance(client_order_id, str) else None
    if match is None:
        return "external"
    by_code = {code: role for role, code in role_codes.items()}
    return by_code.get(match.group(1), "external")


def technical_score(reasons: object) -> float:
    """Confidence-weighted mean of the technical inputs' normalised values in a
    ``fct_signals.reasons`` JSON (the composite restricted to MACD, RSI, Bollinger, trend);
    null when none of them is confident."""
    if not isinstance(reasons, str) or not reasons:
        return math.nan
    parsed = json.loads(reasons)
    backed = weighted = 0.0
    for name in TECHNICAL_INPUTS:
        item = parsed.get(name) or {}
        confidence, weight, value = (item.get(k) for k in ("confidence", "weight", "normalised"))
        if confidence is None or weight is None or value is None:
            continue
        backed += float(weight) * float(confidence)
        weighted += float(weight) * float(confidence) * float(value)
    return weighted / backed if backed > 0 else math.nan


def onchain_at(
    onchain: pd.DataFrame, asset: str, at: pd.Timestamp, max_age: pd.Timedelta = ONCHAIN_MAX_AGE
) -> str | None:
    """JSON ``{metric: value}`` of ``asset``'s on-chain metrics, each the last day known at
    ``at`` (``available_at <= at``) and at most ``max_age`` old; None when there is none."""
    if onchain.empty:
        return None
    rows = onchain[
        (onchain["asset"].str.upper() == asset.upper())
        & (onchain["available_at"] <= at)
        & (onchain["available_at"] > at - max_age)
    ]
    if rows.empty:
        return None
    last = rows.sort_values("available_at", kind="mergesort").groupby("metric").tail(1)
    values = {str(m): float(v) for m, v in zip(last["metric"], last["value"], strict=True)}
    return json.dumps(dict(sorted(values.items())))


def excursions(
    direction: float, entry_price: float, highs: np.ndarray, lows: np.ndarray
) -> tuple[float, float, float, float]:
    """(mfe, mae, best price, worst price) of a trade; ``highs``/``lows`` include its fills."""
    high, low = float(np.max(highs)), float(np.min(lows))
    if direction > 0:
        return high / entry_price - 1.0, low / entry_price - 1.0, high, low
    return 1.0 - low / entry_price, 1.0 - high / entry_price, low, high


def _weighted_price(prices: np.ndarray, quantities: np.ndarray) -> float:
    quantity = float(quantities.sum())
    return float((prices * quantities).sum() / quantity) if quantity > 0 else math.nan


Series = dict[tuple[str, str, str], pd.DataFrame]


def _by_series(frame: pd.DataFrame) -> Series:
    """Rows per (exchange, symbol, timeframe), in time order (``ts`` and ``available_at``
    then both ascend, so a time window is found by binary search)."""
    if frame.empty:
        return {}
    ordered = frame.sort_values("ts", kind="mergesort")
    groups = ordered.groupby(["exchange", "symbol", "timeframe"], sort=False)
    return {key: group.reset_index(drop=True) for key, group in groups}


def _finest(candles: pd.DataFrame) -> dict[tuple[str, str], str]:
    """The finest candle timeframe of each market."""
    if candles.empty:
        return {}
    span = (candles["available_at"] - candles["ts"]).dt.total_seconds()
    first = candles.assign(span_=span).sort_values("span_", kind="mergesort")
    return {
        (str(ex), str(sym)): str(tf)
        for ex, sym, tf in first.drop_duplicates(["exchange", "symbol"])[
            ["exchange", "symbol", "timeframe"]
        ].itertuples(index=False)
    }


def _entry_signal(entry: pd.Series, series: pd.DataFrame | None) -> pd.Series | None:
    """The fct_signals row of the entry's decision bar, else the last bar known at entry."""
    if series is None or series.empty:
        return None
    bar_ts = entry.get("bar_ts")
    if bar_ts is not None and not pd.isna(bar_ts):
        i = int(series["ts"].searchsorted(bar_ts, side="left"))
        found = i < len(series) and series["ts"].iloc[i] == bar_ts
        return series.iloc[i] if found else None
    i = int(series["available_at"].searchsorted(entry["event_time"], side="right")) - 1
    return series.iloc[i] if i >= 0 else None


def _holding_bars(series: pd.DataFrame | None, entry_at: pd.Timestamp, exit_at) -> pd.DataFrame:
    """Bars overlapping the holding period: closed after the entry, opened by the exit."""
    if series is None or series.empty:
        return pd.DataFrame(columns=["high", "low"])
    start = int(series["available_at"].searchsorted(entry_at, side="right"))
    end = len(series) if exit_at is None else int(series["ts"].searchsorted(exit_at, "right"))
    return series.iloc[start : max(start, end)]


def _trade(
    rows: pd.DataFrame,
    candles: Series,
    finest: dict[tuple[str, str], str],
    signals: Series,
    codes: Mapping[str, str],
    onchain: pd.DataFrame,
) -> dict:
    entry = rows.iloc[0]
    roles = rows["role"].to_numpy(object)
    prices, quantities = rows["price"].to_numpy(float), rows["quantity"].to_numpy(float)
    opening, closing = np.isin(roles, ["open", "add"]), np.isin(roles, ["reduce", "close"])
    direction = 1.0 if entry["position_after"] > 0 else -1.0
    closed = bool((roles == "close").any())
    exit_at = rows["event_time"].iloc[-1] if closed else None
    market = (str(entry["exchange"]), str(entry["symbol"]))
    intended = entry.get("timeframe")
    timeframe = intended if isinstance(intended, str) and intended else finest.get(market)
    key = (*market, timeframe) if timeframe else None
    bars = _holding_bars(candles.get(key) if key else None, entry["event_time"], exit_at)
    entry_price = _weighted_price(prices[opening], quantities[opening])
    mfe, mae, best, worst = excursions(
        direction,
        entry_price,
        np.concatenate([bars["high"].to_numpy(float), prices]),
        np.concatenate([bars["low"].to_numpy(float), prices]),
    )
    signal = _entry_signal(entry, signals.get(key) if key else None)

    def at_entry(column: str) -> Any:
        return signal.get(column) if signal is not None else None

    atr, close = at_entry("atr_14"), at_entry("close")
    return {
        "direction": "long" if direction > 0 else "short",
        "timeframe": timeframe,
        "entry_intent_id": entry.get("intent_id"),
        "entry_price": entry_price,
        "exit_price": _weighted_price(prices[closing], quantities[closing]),
        "max_quantity": float(np.abs(rows["position_after"].to_numpy(float)).max()),
        "holding_seconds": (exit_at - entry["event_time"]).total_seconds() if closed else math.nan,
        "exit_reason": exit_reason(rows.iloc[-1].get("client_order_id"), codes) if closed else None,
        "mfe": mfe,
        "mae": mae,
        "mfe_price": best,
        "mae_price": worst,
        "entry_bar_ts": at_entry("ts"),
        "entry_score": at_entry("score"),
        "entry_confidence": at_entry("confidence"),
        "entry_action": at_entry("action"),
        "technical_score": technical_score(at_entry("reasons")),
        "sentiment_score": at_entry("sentiment_score"),
        "regime": at_entry("regime"),
        "volatility": float(atr) / float(close) if atr is not None and close else math.nan,
        "onchain_at_entry": onchain_at(
            onchain, str(entry["symbol"]).split("/")[0], entry["event_time"]
        ),
    }


def trades(
    journal: pd.DataFrame,
    candles: pd.DataFrame,
    signals: pd.DataFrame,
    role_codes: Mapping[str, str],
    onchain: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per round trip: ``round_trips`` plus ``TRADE_COLUMNS``.

    ``journal`` as built by ``build_journal`` (with the entry intent's ``timeframe`` and
    ``bar_ts`` when known); ``candles``: exchange, symbol, timeframe, ts, available_at, high,
    low; ``signals``: fct_signals rows (exchange, symbol, timeframe, ts, available_at, close,
    atr_14, regime, sentiment_score, score, confidence, action, reasons); ``role_codes``: the
    executor's order role -> client-order-id code (``executor.orders.ROLE_CODES``).
    ``onchain``: int_onchain_daily rows (asset, metric, available_at, value).
    ``volatility`` is ATR(14) / close at the entry bar."""
    metrics = (
        onchain
        if onchain is not None
        else pd.DataFrame(columns=["asset", "metric", "available_at", "value"])
    )
    trips = round_trips(journal)
    keys = _book_keys(journal)
    if trips.empty:
        return pd.DataFrame(columns=[*trips.columns, *TRADE_COLUMNS])
    candle_series, finest, signal_series = (
        _by_series(candles),
        _finest(candles),
        _by_series(signals),
    )
    needed = [*keys, "round_trip", "sequence", "event_time", "role", "price", "quantity",
              "position_after", "timeframe", "bar_ts", "intent_id", "client_order_id"]  # fmt: skip
    slim = journal[[c for c in needed if c in journal.columns]].sort_values("sequence")
    extra = [
        _trade(rows, candle_series, finest, signal_series, role_codes, metrics)
        for _trip, rows in slim.groupby([*keys, "round_trip"], sort=True, dropna=False)
    ]
    return pd.concat([trips, pd.DataFrame(extra, columns=TRADE_COLUMNS)], axis=1)
