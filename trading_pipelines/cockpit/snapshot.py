"""The cockpit's read-only copy of the warehouse: written by a Dagster run, read by pages.

The live ``warehouse.duckdb`` is never opened by the cockpit (ARCHITECTURE.md invariant 1:
DuckDB locks the whole file and a reader blocks the writer). The asset
``cockpit/warehouse_snapshot`` (``assets/cockpit_snapshot.py``) copies the recent signals
into ``$TRADING_HOME/snapshots/cockpit.duckdb`` through a temporary file and a rename, so a
reader sees the old snapshot or the new one, never half of one.

Tables: ``signals`` (the last ``BARS_PER_MARKET`` bars of each market and timeframe of
``fct_signals``: price, regime, score, action and the reasons) and ``snapshot_info`` (when
it was taken and from what).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import duckdb

SNAPSHOT_FILE = Path("snapshots") / "cockpit.duckdb"
BARS_PER_MARKET = 200
SIGNAL_COLUMNS = (
    "exchange", "symbol", "timeframe", "ts", "close", "regime", "score", "confidence",
    "action", "reasons", "rsi_14", "macd_hist_12_26_9", "adx_14", "sentiment_score",
)  # fmt: skip
NO_SNAPSHOT = (
    "No warehouse snapshot yet: signals appear after a Dagster run materializes "
    "cockpit/warehouse_snapshot (within 5 minutes of a refresh of fct_signals)."
)


def snapshot_path(home: Path) -> Path:
    return home / SNAPSHOT_FILE


def write_snapshot(conn: duckdb.DuckDBPyConnection, target: Path) -> dict[str, Any]:
    """Copy the recent signals from the warehouse ``conn`` into ``target`` atomically;
    returns what was copied (rows, markets, newest bar)."""
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    columns = ", ".join(SIGNAL_COLUMNS)
    try:
        quoted = str(tmp).replace("'", "''")
        conn.execute(f"attach '{quoted}' as cockpit_snap")
        try:
            conn.execute(
                f"""
                create table cockpit_snap.signals as
                select {columns} from (
                    select *, row_number() over (
                        partition by exchange, symbol, timeframe order by ts desc
                    ) as recent
                    from signals.fct_signals
                ) where recent <= {BARS_PER_MARKET}
                order by exchange, symbol, timeframe, ts
                """
            )
            stats = conn.execute(
                "select count(*), count(distinct (exchange, symbol, timeframe)), max(ts) "
                "from cockpit_snap.signals"
            ).fetchone()
            assert stats is not None
            conn.execute(
                "create table cockpit_snap.snapshot_info as "
                "select now()::timestamp as taken_at, 'signals.fct_signals' as source, "
                "? as rows, ? as markets",
                [stats[0], stats[1]],
            )
        finally:
            conn.execute("detach cockpit_snap")
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return {"rows": int(stats[0]), "markets": int(stats[1]), "newest_bar": stats[2]}


def _decode(reasons: Any) -> Any:
    if isinstance(reasons, str):
        try:
            return json.loads(reasons)
        except ValueError:
            return reasons
    return reasons


class SnapshotReader:
    """Reads the snapshot file (read-only); ``available`` is False until one exists."""

    def __init__(self, path: Path):
        self.path = path
        # (file identity, history) -> result: a snapshot changes only when a run replaces it.
        self._cache: dict[tuple[tuple[int, int, int], int], dict[str, Any]] = {}

    @property
    def available(self) -> bool:
        return self.path.is_file()

    def signals(self, history: int = 0) -> dict[str, Any]:
        """The latest bar of every market (``history`` earlier bars each, newest first)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return {"available": False, "message": NO_SNAPSHOT, "taken_at": None, "markets": []}
        key = ((stat.st_ino, stat.st_mtime_ns, stat.st_size), history)
        if key not in self._cache:
            self._cache = {k: v for k, v in self._cache.items() if k[0] == key[0]}
            self._cache[key] = self._read(history)
        return self._cache[key]

    def _read(self, history: int) -> dict[str, Any]:
        with duckdb.connect(str(self.path), read_only=True) as conn:
            info = conn.execute("select taken_at from snapshot_info").fetchone()
            cursor = conn.execute(
                f"""
                select * from (
                    select {", ".join(SIGNAL_COLUMNS)}, row_number() over (
                        partition by exchange, symbol, timeframe order by ts desc) as recent
                    from signals
                ) where recent <= ? order by exchange, symbol, timeframe, ts desc
                """,
                [history + 1],
            )
            names = [d[0] for d in cursor.description]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        markets: dict[tuple[str, str, str], dict[str, Any]] = {}
        for row in rows:
            row.pop("recent")
            row["reasons"] = _decode(row["reasons"])
            key = (row["exchange"], row["symbol"], row["timeframe"])
            if key not in markets:
                markets[key] = {**row, "history": []}
            else:
                markets[key]["history"].append(row)
        return {
            "available": True,
            "message": None,
            "taken_at": info[0] if info else None,
            "markets": list(markets.values()),
        }
