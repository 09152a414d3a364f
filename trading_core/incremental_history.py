"""History behind the live edge, folded into the signal chain a bounded amount per run.

A backfill of earlier days (or a corrected old candle, or a changed indicator recipe) makes
``int_indicators`` recompute each touched series from the first changed bar to its end, and
every model after it follows: with a year of 1m candles that is millions of rows, minutes of
work in the one step that holds the warehouse pool - the live evaluation's step. Yet such a
change cannot move the bars at the live edge: every indicator but ``obv`` has forgotten any
bar more than ``history_needed()`` bars back to 1e-13 of its seed's error (window columns
exactly), which is the bound the warm-up already relies on, and nothing downstream reads
``obv``. So each incremental run splits what changed, per series, at its *edge*
(the last stored bar minus ``history_needed()`` bars of its timeframe):

- changes at the edge or after it (new bars, refetched or corrected recent candles) are
  always computed, in the same run;
- changes behind it are *history*: per market (exchange and symbol, every timeframe
  together, since a higher timeframe rescores the lower ones' confluence), in key order,
  markets are taken while the rows they rewrite (every stored row of the market from its
  earliest history change on) fit ``budget`` rows, and always at least one; the others are
  kept as *deferred* marks (consumer ``DEFERRED``) for the next run, which merges them with
  what it finds.

The deferred marks are replaced in the model's post-hook, in the transaction of its write
(``NEXT_TABLE`` holds what the post-hook stores), so a failed run keeps them. A series with
no stored rows has no edge: all of it is history. Once every deferred mark is taken, the
stored chain equals a full rebuild (tests/dbt/test_incremental_history.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import duckdb
import pandas as pd

from trading_core.incremental import SERIES, empty_plan, ensure_marks, literal, merge_plans
from trading_core.timeframes import timeframe_seconds

DEFERRED = "int_indicators__deferred"  # the consumer name of the deferred marks
NEXT_TABLE = "intermediate.int_indicators__deferred_next"
AT_EDGE = "at_edge"
MARKET = ("exchange", "symbol")

# How a dbt invocation treats history (read by int_indicators when it runs, from the
# environment the dbt resource gives it, so the project is not re-parsed): ``fold`` (the
# default) takes markets within the budget; ``defer`` takes none, for the evaluation's first
# pass, whose run folds the history after its intents (assets/signal_history.py).
HISTORY_ENV = "TRADING_SIGNAL_HISTORY"
HISTORY_MODES = ("fold", "defer")


def history_budget(configured: int, environ: Mapping[str, str] | None = None) -> int:
    """The rows of history this invocation may fold: ``configured``, or 0 in ``defer`` mode."""
    mode = (os.environ if environ is None else environ).get(HISTORY_ENV, "fold")
    if mode not in HISTORY_MODES:
        raise ValueError(f"{HISTORY_ENV} must be one of {list(HISTORY_MODES)}, got {mode!r}")
    return 0 if mode == "defer" else int(configured)


def edge_points(conn: duckdb.DuckDBPyConnection, relation: str, bars: int) -> pd.DataFrame:
    """Per stored series of ``relation``: ``edge_from``, its last bar minus ``bars`` bars
    of its timeframe (a gap makes the point later than the ``bars``-th stored bar: changes
    between the two count as at the edge, the safe side)."""
    found = conn.execute(
        f"select {', '.join(SERIES)}, max(ts) as last_ts from {relation} group by all"
    ).df()
    if not len(found):
        return pd.DataFrame(
            {
                **{k: pd.Series(dtype=object) for k in SERIES},
                "edge_from": pd.Series(dtype="datetime64[us]"),
            }
        )
    span = found["timeframe"].map(timeframe_seconds) * int(bars)
    edge = pd.to_datetime(found["last_ts"]) - pd.to_timedelta(span, unit="s")
    return found[list(SERIES)].assign(edge_from=edge.astype("datetime64[us]"))


def classify(plan: pd.DataFrame, edges: pd.DataFrame) -> pd.DataFrame:
    """``plan`` (series, ``recompute_from``) with ``at_edge``: the point is at or after its
    series' edge (False for a series without one)."""
    if not len(plan):
        return empty_plan().assign(**{AT_EDGE: pd.Series(dtype=bool)})
    joined = plan[[*SERIES, "recompute_from"]].merge(edges, on=list(SERIES), how="left")
    at_edge = pd.to_datetime(joined["recompute_from"]) >= pd.to_datetime(joined["edge_from"])
    return joined[[*SERIES, "recompute_from"]].assign(**{AT_EDGE: at_edge.fillna(False)})


def market_costs(
    conn: duckdb.DuckDBPyConnection, relation: str, history: pd.DataFrame
) -> pd.DataFrame:
    """Per market of ``history``: its earliest point and ``rows``, every row of the market
    in ``relation`` (any timeframe) from that point on - what taking it rewrites."""
    points = history.groupby(list(MARKET), as_index=False, sort=True)["recompute_from"].min()
    conn.register("_history_markets", points)
    try:
        counted = conn.execute(
            f"""
            select m.exchange, m.symbol, count(t.ts) as rows
            from _history_markets as m
            left join {relation} as t
                on t.exchange = m.exchange and t.symbol = m.symbol
                and t.ts >= m.recompute_from and t.ts >= {literal(points["recompute_from"].min())}
            group by all
            """
        ).df()
    finally:
        conn.unregister("_history_markets")
    return points.merge(counted, on=list(MARKET), how="left").fillna({"rows": 0})


def choose_markets(costs: pd.DataFrame, budget: int) -> set[tuple[str, str]]:
    """Markets in key order while their rows fit ``budget``; at least the first one, unless
    ``budget`` is 0 (defer everything)."""
    if budget < 0:
        raise ValueError(f"history_rows_per_run must be a number of rows >= 0, got {budget!r}")
    taken: set[tuple[str, str]] = set()
    if budget == 0:
        return taken
    used = 0
    for row in costs.sort_values(list(MARKET)).itertuples(index=False):
        rows = int(row.rows)
        if taken and used + rows > budget:
            break
        taken.add((str(row.exchange), str(row.symbol)))
        used += rows
    return taken


def fold_history(
    conn: duckdb.DuckDBPyConnection,
    found: pd.DataFrame,
    deferred: pd.DataFrame,
    relation: str,
    budget: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """This run's plan and what it defers: ``found`` (classified points: ``classify``)
    at the edge, plus the history of the markets that fit ``budget``; the rest of the
    history, merged with ``deferred`` (the stored deferred marks), is returned to defer."""
    at_edge = found[AT_EDGE].fillna(False).astype(bool) if len(found) else None
    edge = found[at_edge] if at_edge is not None else found
    history = merge_plans(found[~at_edge] if at_edge is not None else found, deferred)
    if not len(history):
        return merge_plans(edge), empty_plan()
    taken = choose_markets(market_costs(conn, relation, history), budget)
    chosen = history.apply(lambda r: (r["exchange"], r["symbol"]) in taken, axis=1)
    return merge_plans(edge, history[chosen]), history[~chosen].reset_index(drop=True)


def store_next(conn: duckdb.DuckDBPyConnection, later: pd.DataFrame) -> None:
    """What the post-hook keeps as the deferred marks once the write commits."""
    ensure_marks(conn)
    frame = later[[*SERIES, "recompute_from"]] if len(later) else empty_plan()
    frame = frame.astype({k: object for k in SERIES}).assign(
        recompute_from=pd.to_datetime(frame["recompute_from"]).astype("datetime64[us]")
    )
    conn.register("_deferred_next", frame)
    try:
        conn.execute(
            f"create or replace table {NEXT_TABLE} as select exchange::varchar as exchange, "
            "symbol::varchar as symbol, timeframe::varchar as timeframe, "
            "recompute_from::timestamp as recompute_from from _deferred_next"
        )
    finally:
        conn.unregister("_deferred_next")
