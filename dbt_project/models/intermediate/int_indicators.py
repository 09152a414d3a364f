"""Every default indicator per exchange/symbol/timeframe/bar, computed by
trading_core.indicators.compute_per_series: the same code as `trading indicators` and the
backtester. TA-Lib conventions (EMA seeded with the SMA of its first n values; Wilder
smoothing for RSI/ATR/ADX); values before an indicator's warm-up are null.

Incremental (trading_core.incremental): per series, only the bars from the first one that
changed since the last run are computed - new bars, refetched or corrected candles, earlier
history, rows of a partition that was rewritten or blocked - starting the computation
`history_needed()` stored bars earlier, where every recursive indicator has forgotten its
seed to 1e-13; OBV, a running total, resumes from its stored value. Changes are found from
`ingested_at` and `raw.partition_checks.checked_at` since the watermark of the last run (the
newest of each, and how many rows carried it: a write on a clock that did not move counts).

History behind the live edge (more than `history_needed()` bars before a series' last stored
bar: a backfill of earlier days, an old correction, a changed recipe) cannot move the edge's
values, so it is folded in at most `history_rows_per_run` rows per run, market by market,
the rest deferred to the next runs (trading_core.incremental_history). The evaluation job's
pass defers all of it (TRADING_SIGNAL_HISTORY=defer) and folds it after the bar's intents,
in the same run (asset signals/history): a year's backfill never delays a bar's intent.
"""

import pandas as pd

KEYS = ["exchange", "symbol", "timeframe"]
PRICE = ["open", "high", "low", "close", "volume"]
WATERMARK = "intermediate.int_indicators__watermark"


def model(dbt, session):
    dbt.config(
        materialized="incremental",
        incremental_strategy="series_tail",
        series_keys=["exchange", "symbol", "timeframe"],
        marks_for=["int_regimes", "int_signal_inputs"],
        post_hook=[
            "create or replace table intermediate.int_indicators__watermark as "
            "with checks as (select * from raw.partition_checks where asset_key = 'raw/ohlcv'), "
            "newest as (select (select max(ingested_at) from raw.ohlcv) as ingested_at, "
            "(select max(checked_at) from checks) as checked_at) "
            "select ingested_at, "
            "(select count(*) from raw.ohlcv as r where r.ingested_at = n.ingested_at) "
            "as ingested_rows, checked_at, "
            "(select count(*) from checks as c where c.checked_at = n.checked_at) "
            "as checked_rows from newest as n",
            "delete from intermediate.recompute_marks where consumer = 'int_indicators'",
            # the history this run deferred (trading_core.incremental_history)
            "delete from intermediate.recompute_marks where consumer = 'int_indicators__deferred'",
            "insert into intermediate.recompute_marks (consumer, exchange, symbol, timeframe, "
            "recompute_from) select 'int_indicators__deferred', exchange, symbol, timeframe, "
            "recompute_from from intermediate.int_indicators__deferred_next",
        ],
    )
    import trading_core.indicators as ind
    from trading_core import incremental as inc
    from trading_core import incremental_history as hist

    candles = dbt.ref("stg_ohlcv")
    raw = dbt.source("raw", "ohlcv")
    checks = dbt.source("raw", "partition_checks")
    recipe = inc.code_version(ind)
    if not dbt.is_incremental:
        frame = candles.df()
        built = _bars(frame).merge(ind.compute_per_series(frame, keys=KEYS), on=[*KEYS, "ts"])
        inc.rebuilt(session, "int_indicators", recipe, built, ["int_regimes", "int_signal_inputs"])
        hist.store_next(session, inc.empty_plan())  # a full build leaves nothing deferred
        return built

    stg, this = f"({candles.sql_query()})", str(dbt.this)
    inc.follow_recipe(session, "int_indicators", recipe, this)
    edges = hist.edge_points(session, this, ind.history_needed())
    found = pd.concat(
        [
            _changed(session, stg, f"({raw.sql_query()})", f"({checks.sql_query()})", this, edges),
            hist.classify(inc.read_marks(session, "int_indicators"), edges),
        ],
        ignore_index=True,
    )
    budget = hist.history_budget(int(dbt.config.get("history_rows_per_run")))
    plan, later = hist.fold_history(
        session, found, inc.read_marks(session, hist.DEFERRED), stg, budget
    )
    hist.store_next(session, later)
    starts = inc.history_start(session, this, plan, ind.history_needed())
    warm = inc.read_rows(
        session, this, [*KEYS, "ts", *PRICE, "obv"], starts, until="recompute_from"
    )
    new = inc.read_rows(
        session, stg, [*KEYS, "ts", "available_at", *PRICE], plan, since="recompute_from"
    )
    if not len(new):
        return inc.tail(_bars(new).assign(**dict.fromkeys(ind.INDICATOR_COLUMNS, 0.0)), plan)
    frame = pd.concat([warm.drop(columns="obv"), new.drop(columns="available_at")])
    computed = ind.compute_per_series(frame, keys=KEYS)
    built = _bars(new).merge(computed, on=[*KEYS, "ts"])
    return inc.tail(_resume_obv(built, warm, ind.obv), plan)


def _bars(candles):
    return candles[[*KEYS, "ts", "available_at", *PRICE]]


def _changed(session, stg, raw, checks, this, edges):
    """Per series and side of its edge (``at_edge``), the first bar that may differ from the
    stored one: every row written since the last run, and within each partition rewritten
    or re-checked since then (rows may have vanished or come back), the first bar present on
    one side only."""
    from trading_core import incremental as inc

    if not inc.has_table(session, WATERMARK):
        # a table built before it was incremental: everything is new
        everything = session.execute(
            f"select distinct {', '.join(KEYS)} from {stg} union "
            f"select distinct {', '.join(KEYS)} from {this}"
        ).df()
        return everything.assign(recompute_from=inc.BEGINNING, at_edge=False)
    ingested, ingested_rows, checked, checked_rows = session.execute(
        f"select ingested_at, ingested_rows, checked_at, checked_rows from {WATERMARK}"
    ).fetchall()[0]
    session.register("_edges", edges)
    try:
        written = session.execute(
            f"with w as (select {', '.join(KEYS)}, ts from {stg} where "
            f"{inc.written_since('ingested_at', raw, ingested, ingested_rows)}) "
            f"select {', '.join(f'w.{k}' for k in KEYS)}, min(w.ts) as recompute_from, "
            "coalesce(w.ts >= e.edge_from, false) as at_edge "
            f"from w left join _edges as e using ({', '.join(KEYS)}) group by all"
        ).df()
    finally:
        session.unregister("_edges")
    ours = f"(select * from {checks} where asset_key = 'raw/ohlcv')"
    touched = session.execute(
        "select distinct split_part(partition_key, '|', 2) as partition_symbol, "
        f"cast(split_part(partition_key, '|', 1) as timestamp) as day from {ours} "
        f"where {inc.written_since('checked_at', ours, checked, checked_rows)}"
    ).df()
    differ = inc.window_differences(session, stg, this, touched, edges)
    return pd.concat([written, differ], ignore_index=True)


def _resume_obv(built, warm, obv):
    """OBV continues its stored running total: the kernel started on the last stored bar,
    with that bar's OBV as its first 'volume', repeats the full history's additions."""
    if not len(warm):
        return built
    last = warm.groupby(KEYS, sort=False).tail(1).set_index(KEYS)
    pieces = []
    for key, series in built.groupby(KEYS, sort=False):
        if key in last.index:
            before = last.loc[key]
            close = pd.concat([pd.Series([before["close"]]), series["close"]], ignore_index=True)
            volume = pd.concat([pd.Series([before["obv"]]), series["volume"]], ignore_index=True)
            series = series.assign(obv=obv(close, volume).to_numpy()[1:])
        pieces.append(series)
    return pd.concat(pieces, ignore_index=True)
