"""The three CSV layouts of the tax export, one row per fill.

- ``koinly``: Koinly's universal template. Dates ``YYYY-MM-DD HH:MM UTC`` (the format Koinly
  documents; always UTC). Sent and received are the traded amounts; the fee is its own column
  and Koinly takes it off the balance on top (so a buy of 1 BTC with a 0.001 BTC fee nets
  0.999 BTC, as on the exchange). Net worth is the trade's value in its quote currency.
- ``cointracking``: CoinTracking's CSV import (``Type`` ... ``Date``). CoinTracking expects
  the amounts actually received and spent, fees included, and treats the fee column as
  information: a quote fee is added to what a buy spends (or taken from what a sale
  receives), a base fee is taken from what a buy receives (or added to what a sale spends).
  Dates ``YYYY-MM-DD HH:MM:SS`` in UTC (choose UTC in CoinTracking's import).
- ``generic``: every fill with its FIFO lots, proceeds, cost basis and realized gain
  (``trading_core.tax.fifo`` states the conventions). Dates ISO-8601 UTC (``...Z``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from trading_core.tax.fifo import TaxFill, TaxRow, amount

KOINLY_COLUMNS = (
    "Date",
    "Sent Amount",
    "Sent Currency",
    "Received Amount",
    "Received Currency",
    "Fee Amount",
    "Fee Currency",
    "Net Worth Amount",
    "Net Worth Currency",
    "Label",
    "Description",
    "TxHash",
)
COINTRACKING_COLUMNS = (
    "Type",
    "Buy Amount",
    "Buy Currency",
    "Sell Amount",
    "Sell Currency",
    "Fee",
    "Fee Currency",
    "Exchange",
    "Trade-Group",
    "Comment",
    "Date",
)
GENERIC_COLUMNS = (
    "date_utc",
    "exchange",
    "symbol",
    "side",
    "quantity",
    "price",
    "fee",
    "fee_currency",
    "base_currency",
    "quote_currency",
    "acquired_quantity",
    "acquisition_cost",
    "disposed_quantity",
    "proceeds",
    "cost_basis",
    "realized_gain",
    "uncovered_quantity",
    "lots",
    "trade_id",
    "strategy",
    "mode",
    "note",
)


def _describe(fill: TaxFill) -> str:
    who = f", strategy {fill.strategy}" if fill.strategy else ""
    mode = f", {fill.mode}" if fill.mode else ""
    return (
        f"{fill.exchange} {fill.symbol} {fill.side} {amount(fill.quantity)} @ "
        f"{amount(fill.price)} (trade {fill.trade_id}{who}{mode})"
    )


def koinly_row(row: TaxRow) -> list[str]:
    fill = row.fill
    base = (amount(fill.quantity), fill.base)
    quote = (amount(fill.notional), fill.quote)
    sent, received = (quote, base) if fill.side == "buy" else (base, quote)
    return [
        fill.event_time.strftime("%Y-%m-%d %H:%M UTC"),
        *sent,
        *received,
        amount(fill.fee),
        fill.fee_currency,
        amount(fill.notional),
        fill.quote,
        "",
        _describe(fill) + (f"; {row.note}" if row.note else ""),
        fill.tx_id,
    ]


def cointracking_row(row: TaxRow) -> list[str]:
    fill = row.fill
    base, quote = fill.quantity, fill.notional
    if fill.side == "buy":
        if fill.fee_currency == fill.quote:
            quote += fill.fee
        elif fill.fee_currency == fill.base:
            base -= fill.fee
        bought, sold = (base, fill.base), (quote, fill.quote)
    else:
        if fill.fee_currency == fill.quote:
            quote -= fill.fee
        elif fill.fee_currency == fill.base:
            base += fill.fee
        bought, sold = (quote, fill.quote), (base, fill.base)
    comment = _describe(fill)
    if fill.fee and fill.fee_currency not in (fill.base, fill.quote):
        comment += f"; fee in {fill.fee_currency}: add it as an Other Fee"
    return [
        "Trade",
        amount(bought[0]),
        bought[1],
        amount(sold[0]),
        sold[1],
        amount(fill.fee),
        fill.fee_currency,
        fill.exchange,
        fill.strategy or "",
        comment,
        fill.event_time.strftime("%Y-%m-%d %H:%M:%S"),
    ]


def _lots(row: TaxRow) -> str:
    return "; ".join(
        f"{c.acquired_at.strftime('%Y-%m-%dT%H:%M:%SZ')} {amount(c.quantity)} cost {amount(c.cost)}"
        for c in row.consumed
    )


def generic_row(row: TaxRow) -> list[str]:
    fill = row.fill
    buy = fill.side == "buy"
    return [
        fill.event_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        fill.exchange,
        fill.symbol,
        fill.side,
        amount(fill.quantity),
        amount(fill.price),
        amount(fill.fee),
        fill.fee_currency,
        fill.base,
        fill.quote,
        amount(row.acquired) if buy else "",
        amount(row.cost) if buy else "",
        "" if buy else amount(row.disposed),
        amount(row.proceeds),
        amount(row.cost_basis),
        amount(row.gain),
        "" if buy else amount(row.uncovered),
        _lots(row),
        fill.trade_id,
        fill.strategy or "",
        fill.mode or "",
        row.note,
    ]


FORMATS: dict[str, tuple[Sequence[str], Callable[[TaxRow], list[str]]]] = {
    "koinly": (KOINLY_COLUMNS, koinly_row),
    "cointracking": (COINTRACKING_COLUMNS, cointracking_row),
    "generic": (GENERIC_COLUMNS, generic_row),
}
