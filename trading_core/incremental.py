"""Incremental recomputation of per-series tables: the dbt signal chain.

``int_indicators -> int_regimes -> int_signal_inputs -> fct_signals`` recompute, per series,
only the bars from a *rewrite point* on, re-reading just the history their computation needs
before it; the ``series_tail`` incremental strategy (``dbt_project/macros/series_tail.sql``)
then replaces every stored row of the series from that point on, in the model's transaction.

Rewrite points travel down the chain as *marks*: ``intermediate.recompute_marks`` holds, per
consumer model and series, the earliest bar the consumer must recompute. A model's strategy
marks its consumers where its rows really changed (the first row that differs from the
stored one); a consumer clears its own marks in a post-hook, in the transaction of its
write, so a failed or skipped run keeps them. Adding a mark is always safe (at worst bars
are recomputed to the same values), so Python models add marks outside the transaction.

History behind a series' live edge is recomputed a bounded number of rows per run
(``trading_core.incremental_history``).

Every function takes a DuckDB connection and relations as SQL text (a table name or a
``(select ...)`` subquery); reads carry a literal lower time bound so DuckDB's zone maps skip
the older row groups, whatever the length of the stored history.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import duckdb
import numpy as np
import pandas as pd

from trading_core.timeframes import timeframe_seconds

log = logging.getLogger(__name__)

MARKS_TABLE = "intermediate.recompute_marks"
RECIPES_TABLE = "intermediate.recompute_recipes"
SERIES: tuple[str, ...] = ("exchange", "symbol", "timeframe")
REWRITE_FROM = "_rewrite_from"  # per series: the strategy replaces stored rows from here on
BEGINNING = pd.Timestamp("1970-01-01")  # a rewrite point before any bar: the whole series
LOOKBACK_FACTOR = 2  # history is first sought within 2x its length in time (gaps beyond: all)

_MARKS_DDL = f"""create table if not exists {MARKS_TABLE} (
    consumer varchar not null, exchange varchar, symbol varchar, timeframe varchar,
    recompute_from timestamp not null)"""


def code_version(*parts: ModuleType | str) -> str:
    """A digest of what a model computes with: the source of these modules (a package: each
    of its ``.py`` files) and any configuration given as text."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, str):
            digest.update(part.encode())
            continue
        path = Path(str(part.__file__))
        files = sorted(path.parent.glob("*.py")) if path.name == "__init__.py" else [path]
        for file in files:
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def literal(moment: pd.Timestamp) -> str:
    """A timestamp as a SQL literal (naive UTC, microseconds)."""
    return f"timestamp '{pd.Timestamp(moment).isoformat(sep=' ')}'"


def written_since(column: str, relation: str, at: object, rows: int | None) -> str:
    """A SQL condition: ``column`` was written after the watermark ``at`` - later than it,
    or at that very instant when ``relation`` no longer has the ``rows`` rows it had then
    (another write on a clock that did not move: a replay held at one instant)."""
    if at is None or pd.isna(at):
        return "true"
    moment = literal(pd.Timestamp(at))
    again = f"(select count(*) from {relation} where {column} = {moment}) <> {int(rows or 0)}"
    return f"({column} > {moment} or ({column} = {moment} and {again}))"


def has_table(conn: duckdb.DuckDBPyConnection, relation: str) -> bool:
    """Whether the table ``relation`` (``schema.table``) exists; creates nothing, so a
    read-only connection may ask."""
    schema, table = relation.split(".")
    found = conn.execute(
        "select count(*) from duckdb_tables() where schema_name = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(found and found[0])


def ensure_marks(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("create schema if not exists intermediate")
    conn.execute(_MARKS_DDL)


def empty_plan() -> pd.DataFrame:
    return pd.DataFrame(
        {
            **{key: pd.Series(dtype=object) for key in SERIES},
            "recompute_from": pd.Series(dtype="datetime64[us]"),
        }
    )


def merge_plans(*plans: pd.DataFrame) -> pd.DataFrame:
    """One row per series with the earliest of its rewrite points."""
    frames = [p[[*SERIES, "recompute_from"]] for p in plans if len(p)]
    if not frames:
        return empty_plan()
    merged = pd.concat(frames, ignore_index=True)
    merged["recompute_from"] = pd.to_datetime(merged["recompute_from"]).astype("datetime64[us]")
    return merged.groupby(list(SERIES), as_index=False, sort=True)["recompute_from"].min()


def read_marks(conn: duckdb.DuckDBPyConnection, consumer: str) -> pd.DataFrame:
    """The series ``consumer`` must recompute, each from its earliest mark."""
    ensure_marks(conn)
    marks = conn.execute(
        f"select exchange, symbol, timeframe, min(recompute_from) as recompute_from "
        f"from {MARKS_TABLE} where consumer = ? and timeframe is not null "
        "group by all order by all",
        [consumer],
    ).df()
    return merge_plans(marks)


def add_marks(conn: duckdb.DuckDBPyConnection, consumer: str, plan: pd.DataFrame) -> None:
    """Tell ``consumer`` to recompute each series of ``plan`` from its ``recompute_from``."""
    ensure_marks(conn)
    if not len(plan):
        return
    conn.register("_new_marks", plan[[*SERIES, "recompute_from"]])
    try:
        conn.execute(
            f"insert into {MARKS_TABLE} select ?, exchange, symbol, timeframe, recompute_from "
            "from _new_marks",
            [consumer],
        )
    finally:
        conn.unregister("_new_marks")


def rebuilt(
    conn: duckdb.DuckDBPyConnection,
    model: str,
    recipe: str,
    frame: pd.DataFrame,
    consumers: Sequence[str],
) -> None:
    """After a full build of ``model``: every series of ``frame`` is marked for its consumers
    and for itself (its post-hook clears those once the build commits, so a failed build is
    redone), and ``recipe`` is recorded."""
    plan = frame[list(SERIES)].drop_duplicates().assign(recompute_from=BEGINNING)
    for consumer in (*consumers, model):
        add_marks(conn, consumer, plan)
    _store_recipe(conn, model, recipe)


def follow_recipe(conn: duckdb.DuckDBPyConnection, model: str, recipe: str, relation: str) -> None:
    """Before an incremental run: when ``model`` was built with another recipe (its code or
    configuration changed), every series of ``relation`` is marked for recomputation."""
    _ensure_recipes(conn)
    stored = conn.execute(f"select recipe from {RECIPES_TABLE} where model = ?", [model]).fetchall()
    if stored == [(recipe,)]:
        return
    series = conn.execute(f"select distinct {', '.join(SERIES)} from {relation}").df()
    add_marks(conn, model, series.assign(recompute_from=BEGINNING))
    _store_recipe(conn, model, recipe)


def _ensure_recipes(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("create schema if not exists intermediate")
    conn.execute(
        f"create table if not exists {RECIPES_TABLE} (model varchar not null, recipe varchar)"
    )


def _store_recipe(conn: duckdb.DuckDBPyConnection, model: str, recipe: str) -> None:
    _ensure_recipes(conn)
    conn.execute(f"delete from {RECIPES_TABLE} where model = ?", [model])
    conn.execute(f"insert into {RECIPES_TABLE} values (?, ?)", [model, recipe])


def window_differences(
    conn: duckdb.DuckDBPyConnection,
    upstream: str,
    stored: str,
    touched: pd.DataFrame,
    edges: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per series, the first bar present in only one of ``upstream`` and ``stored`` within
    the ``touched`` partitions (columns ``partition_symbol``, as in partition keys, and
    ``day``): rows a rewrite or a newly blocked partition removed, or that came back.
    With ``edges`` (``incremental_history.edge_points``): the first such bar on each side of
    the series' edge, with ``at_edge`` (not merged)."""
    if not len(touched):
        return empty_plan() if edges is None else empty_plan().assign(at_edge=False)
    keys = ", ".join(SERIES)
    low = literal(touched["day"].min())
    high = literal(touched["day"].max() + pd.Timedelta(days=1))

    def rows(relation: str) -> str:
        return (
            f"select {keys}, ts from {relation} as r semi join _touched as w "
            "on replace(r.symbol, '/', '-') = w.partition_symbol "
            "and r.ts >= w.day and r.ts < w.day + interval 1 day "
            f"where r.ts >= {low} and r.ts < {high}"
        )

    split, side = "", ""
    if edges is not None:
        conn.register("_edges", edges[[*SERIES, "edge_from"]])
        split = f"left join _edges as e using ({keys})"
        side = ", coalesce(d.ts >= e.edge_from, false) as at_edge"
    conn.register("_touched", touched[["partition_symbol", "day"]])
    try:
        found = conn.execute(
            f"""
            with upstream as ({rows(upstream)}), stored as ({rows(stored)}),
            differ as (
                (select * from upstream except select * from stored)
                union all
                (select * from stored except select * from upstream)
            )
            select {", ".join(f"d.{k}" for k in SERIES)}, min(d.ts) as recompute_from{side}
            from differ as d {split} group by all
            """
        ).df()
    finally:
        conn.unregister("_touched")
        if edges is not None:
            conn.unregister("_edges")
    return merge_plans(found) if edges is None else found


def history_start(
    conn: duckdb.DuckDBPyConnection, relation: str, plan: pd.DataFrame, bars: int
) -> pd.DataFrame:
    """``plan`` with ``read_from``: per series, the time of the ``bars``-th row of
    ``relation`` before its ``recompute_from`` (its first row when it has fewer; the rewrite
    point itself when it has none).

    The rows are first sought within ``LOOKBACK_FACTOR`` times their span in time; only a
    series with a longer gap (or a shorter history) is searched without that bound.
    """
    out = plan.copy()
    out["read_from"] = out["recompute_from"]
    if not len(plan) or bars <= 0:
        return out
    span = out["timeframe"].map(timeframe_seconds) * bars * LOOKBACK_FACTOR
    out["look_from"] = out["recompute_from"] - pd.to_timedelta(span, unit="s")
    found = _starts(conn, relation, out, bars, bounded=True)
    out = out.merge(found, on=list(SERIES), how="left")
    short = out["found"].fillna(0) < bars
    if short.any():
        retry = _starts(conn, relation, out[short].drop(columns=["start", "found"]), bars, False)
        out = out.merge(retry, on=list(SERIES), how="left", suffixes=("", "_all"))
        out.loc[short, "start"] = out.loc[short, "start_all"]
    out["read_from"] = out["start"].fillna(out["recompute_from"]).astype("datetime64[us]")
    return out[[*plan.columns, "read_from"]]


def _starts(
    conn: duckdb.DuckDBPyConnection, relation: str, plan: pd.DataFrame, bars: int, bounded: bool
) -> pd.DataFrame:
    keys = ", ".join(SERIES)
    bound = (
        f"and t.ts >= p.look_from and t.ts >= {literal(plan['look_from'].min())}" if bounded else ""
    )
    conn.register("_history_plan", plan[[*SERIES, "recompute_from", "look_from"]])
    try:
        return conn.execute(
            f"""
            with before as (
                select {", ".join(f"t.{k}" for k in SERIES)}, t.ts,
                    row_number() over (partition by {keys} order by t.ts desc) as back
                from {relation} as t
                inner join _history_plan as p using ({keys})
                where t.ts < p.recompute_from {bound}
            )
            select {keys}, min(ts) as start, count(*) as found
            from before where back <= {int(bars)} group by all
            """
        ).df()
    finally:
        conn.unregister("_history_plan")


def read_rows(
    conn: duckdb.DuckDBPyConnection,
    relation: str,
    columns: Sequence[str],
    plan: pd.DataFrame,
    since: str = "read_from",
    until: str | None = None,
) -> pd.DataFrame:
    """Rows of ``relation`` for the series of ``plan``, each from its ``since`` column on
    (and before its ``until`` column where that is set), ordered by series and time. Logs
    how many rows were read, and the most for one series."""
    if not len(plan):
        return conn.execute(f"select {', '.join(columns)} from {relation} where false").df()
    keys = ", ".join(SERIES)
    bounds = {since: "since", **({until: "until"} if until else {})}
    conn.register("_read_plan", plan[[*SERIES, *bounds]].rename(columns=bounds))
    try:
        rows = conn.execute(
            f"""
            select {", ".join(f"t.{c}" for c in columns)}
            from {relation} as t inner join _read_plan as p using ({keys})
            where t.ts >= p.since and t.ts >= {literal(plan[since].min())}
                {"and (p.until is null or t.ts < p.until)" if until else ""}
            order by {", ".join(f"t.{k}" for k in SERIES)}, t.ts
            """
        ).df()
    finally:
        conn.unregister("_read_plan")
    most = int(rows.groupby(list(SERIES)).size().max()) if len(rows) else 0
    log.info(
        "read %d rows of %d series from %s (at most %d per series)",
        len(rows),
        len(plan),
        relation,
        most,
    )
    return rows


def tail(frame: pd.DataFrame, plan: pd.DataFrame) -> pd.DataFrame:
    """What a model returns on an incremental run: the rows of ``frame`` from each series'
    ``recompute_from`` on, with that point as ``_rewrite_from``, plus one row with a null
    ``ts`` for each series of ``plan`` left without rows (its stored tail is only deleted)."""
    points = plan[[*SERIES, "recompute_from"]]
    kept = frame.merge(points, on=list(SERIES), how="inner")
    kept = kept[kept["ts"] >= kept["recompute_from"]]
    kept = kept.drop(columns="recompute_from").assign(
        **{REWRITE_FROM: kept["recompute_from"].astype("datetime64[us]")}
    )
    empty = points.merge(kept[list(SERIES)].drop_duplicates(), how="left", indicator=True)
    empty = empty[empty["_merge"] == "left_only"]
    if not len(empty):
        return kept.reset_index(drop=True)
    markers = pd.DataFrame({c: _blank(frame[c], len(empty)) for c in frame.columns})
    for key in SERIES:
        markers[key] = empty[key].to_numpy()
    markers[REWRITE_FROM] = empty["recompute_from"].astype("datetime64[us]").to_numpy()
    return pd.concat([kept, markers], ignore_index=True)


def _blank(column: pd.Series, size: int) -> pd.Series:
    """Placeholder values of a column's dtype for marker rows (never inserted)."""
    if pd.api.types.is_bool_dtype(column):
        return pd.Series(np.zeros(size, dtype=bool))
    if pd.api.types.is_datetime64_any_dtype(column):
        return pd.Series(pd.NaT, index=range(size), dtype=column.dtype)
    if pd.api.types.is_numeric_dtype(column):
        return pd.Series(np.full(size, np.nan))
    return pd.Series([None] * size, dtype=object)
