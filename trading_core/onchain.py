"""On-chain metrics for ``raw/onchain_metrics``: a charts-style HTTP JSON API, or CSV files.

Rows are long: ``(asset, metric, ts, value)`` plus ``source`` (``http`` | ``replay``) and
``ingested_at``. ``ts`` is the instant the value describes, naive UTC; a fetch returns the
values with ``ts`` in ``[start, end)``.

Metric names are the blockchain.com chart names in snake_case (``hash_rate``,
``n_transactions``, ``market_price``): the API path uses the hyphenated chart slug
(``hash-rate``), the replay files the snake_case name. Coin Metrics columns that measure the
same thing are renamed to those names (:data:`COINMETRICS_EQUIVALENTS`), so one metric list
selects across both layouts; every other Coin Metrics column keeps its Coin Metrics id.

Replay layout (``../shared/data/onchain``):
- ``blockchaincom_<asset>_<metric>.csv`` with columns ``timestamp,<metric>``;
- ``coinmetrics_<ASSET>_<frequency>.csv``, wide: ``timestamp`` and one column per metric.
  Empty cells are "not published" and skipped; a cell that is not a number is rejected.

Quarantined, never dropped or overwritten: a line with the wrong number of fields (alone, by
line number; the file's good lines are kept), a negative value of a metric that cannot be
negative (only returns and net flows may be: ``ROI*``, ``FlowNet*``; see
:func:`~trading_core.quality.alt_records.metric_may_be_negative`), a ``ts`` outside every
partition, and every version of an (asset, metric, ts) read with different values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import requests

from trading_core.config import OnchainConfig
from trading_core.quality.alt_records import (
    Horizon,
    metric_may_be_negative,
    negative_value_problem,
    quarantine_conflicts,
)
from trading_core.samples import ensure_samples
from trading_core.social.csvlines import read_csv_lines
from trading_core.social.http_session import retrying_session
from trading_core.social.results import FetchResult, RejectLog, SourceError
from trading_core.social.times import TimeLike, epoch_to_utc, utc_window
from trading_core.timeframes import utc_now
from trading_core.warehouse import table_columns

ASSET_KEY = "raw/onchain_metrics"
ONCHAIN_COLUMNS: list[str] = table_columns("raw.onchain_metrics")
COINMETRICS_EQUIVALENTS: dict[str, str] = {
    "PriceUSD": "market_price",
    "TxCnt": "n_transactions",
    "CapMrktCurUSD": "market_cap",
    "HashRate": "hash_rate",
    "DiffMean": "difficulty",
}
# Coin Metrics columns that describe the row, not the chain.
COINMETRICS_NON_METRICS = frozenset({"AssetEODCompletionTime"})
_BLOCKCHAINCOM_FILE = re.compile(r"^blockchaincom_(?P<asset>[a-z0-9]+)_(?P<metric>\w+)\.csv$")
_COINMETRICS_FILE = re.compile(r"^coinmetrics_(?P<asset>[A-Za-z0-9]+)_\w+\.csv$")


@runtime_checkable
class OnchainSource(Protocol):
    """What every on-chain backend offers."""

    def fetch_metrics(
        self, start: TimeLike, end: TimeLike, *, horizon: Horizon | None = None
    ) -> FetchResult:
        """Values with ``ts`` in ``[start, end)`` (naive UTC), plus the records it rejected
        (including every value it saw dated outside ``horizon``)."""
        ...


def metrics_frame(
    parts: list[pd.DataFrame], *, source: str, ingested_at: datetime, rejects: RejectLog
) -> pd.DataFrame:
    """``raw.onchain_metrics`` rows from ``asset, metric, ts, value[, origin]`` parts: one per
    (asset, metric, ts), ordered. Equal values collapse to one; when one (asset, metric, ts) has
    different values, every one of them goes to ``rejects`` and none is stored. Then a negative
    value of a metric that cannot be negative goes to ``rejects`` (conflicts are judged first,
    so a -5 beside a 9 for the same ts quarantines both, not just the -5)."""
    columns = ["asset", "metric", "ts", "value", "origin"]
    frame = pd.concat([pd.DataFrame(columns=columns), *parts], ignore_index=True)
    frame = quarantine_conflicts(
        frame, ["asset", "metric", "ts"], ["value"], rejects, origin_column="origin"
    )
    metrics = frame["metric"].astype(str)
    signed = metrics.isin([m for m in metrics.unique() if metric_may_be_negative(m)])
    negative = (frame["value"].astype("float64") < 0) & ~signed
    for _, row in frame[negative].iterrows():
        problem = negative_value_problem(str(row["metric"]), float(row["value"]))
        record = {"asset": row["asset"], "ts": row["ts"], row["metric"]: row["value"]}
        rejects.add(problem or "negative value", origin=str(row["origin"]), record=record)
    if negative.any():
        frame = frame[~negative]
    frame = frame.sort_values(["asset", "metric", "ts"], kind="stable").reset_index(drop=True)
    frame = frame.astype({"asset": "str", "metric": "str", "value": "float64"})
    frame["source"] = source
    frame["ingested_at"] = ingested_at
    for column in ("ts", "ingested_at"):
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[us]")
    return frame[ONCHAIN_COLUMNS]


def _number(value: Any) -> float | None:
    """A finite float, or None when ``value`` is not one."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class HttpOnchain:
    """Metrics from a blockchain.com charts-style API.

    ``GET {base_url}/{chart}?timespan=<N>days&start=<YYYY-MM-DD>&format=json&sampled=false``
    answers ``{"values": [{"x": <epoch s>, "y": <value>}, ...]}``; ``chart`` is the metric name
    with hyphens (``hash_rate`` -> ``hash-rate``). ``session`` defaults to one that retries 429
    and 5xx with backoff; an answer that is still an error, or not that JSON shape, raises
    :class:`SourceError` naming the metric. A point without a numeric ``x`` and ``y`` is rejected.
    """

    def __init__(
        self,
        base_url: str,
        metrics: list[str],
        *,
        asset: str = "BTC",
        session: requests.Session | None = None,
        timeout: float = 30.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if not metrics:
            raise ValueError("HttpOnchain needs at least one metric")
        bad = [m for m in metrics if not re.fullmatch(r"[a-z0-9_]+", m)]
        if bad:
            raise ValueError(f"metric names must be snake_case chart names (hash_rate); got {bad}")
        self.base_url = base_url.rstrip("/")
        self.metrics = list(metrics)
        self.asset = asset.upper()
        self.timeout = timeout
        self._session = session or retrying_session()
        self._clock = clock

    def _get(self, metric: str, lo: datetime, hi: datetime) -> list[Any]:
        url = f"{self.base_url}/{metric.replace('_', '-')}"
        days = max(1, math.ceil((hi - lo) / timedelta(days=1)))
        params = {
            "timespan": f"{days}days",
            "start": lo.date().isoformat(),
            "format": "json",
            "sampled": "false",
        }
        try:
            response = self._session.get(url, params=params, timeout=self.timeout)
        except requests.RequestException as exc:
            raise SourceError(f"onchain {metric} ({url}): {type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise SourceError(f"onchain {metric} ({url}): HTTP {response.status_code}")
        try:
            values = response.json()["values"]
        except (ValueError, KeyError, TypeError):
            raise SourceError(
                f"onchain {metric} ({url}): expected JSON with a 'values' list, got "
                f"{response.text[:200]!r}"
            ) from None
        if not isinstance(values, list):
            raise SourceError(f"onchain {metric} ({url}): 'values' is not a list")
        return values

    def fetch_metrics(
        self, start: TimeLike, end: TimeLike, *, horizon: Horizon | None = None
    ) -> FetchResult:
        lo, hi = utc_window(start, end)
        rejects = RejectLog(ASSET_KEY, self._clock())
        rows: list[tuple[str, str, datetime, float, str]] = []
        for metric in self.metrics:
            for index, point in enumerate(self._get(metric, lo, hi)):
                x = _number(point.get("x")) if isinstance(point, dict) else None
                y = _number(point.get("y")) if isinstance(point, dict) else None
                if x is None or y is None:
                    field = "x" if x is None else "y"
                    rejects.add(
                        f"bad point: {field} is not a number",
                        origin=f"{self.base_url}/{metric}#{index}",
                        record=point,
                    )
                    continue
                ts = epoch_to_utc(x)
                origin = f"{self.base_url}/{metric}#{index}"
                problem = horizon.problem("ts", ts) if horizon is not None else None
                if problem is not None:
                    rejects.add(problem, origin=origin, record=point)
                elif lo <= ts < hi:
                    rows.append((self.asset, metric, ts, y, origin))
        part = pd.DataFrame(rows, columns=["asset", "metric", "ts", "value", "origin"])
        frame = metrics_frame(
            [part], source="http", ingested_at=rejects.ingested_at, rejects=rejects
        )
        return FetchResult(frame, rejects.frame())


class ReplayOnchain:
    """Metrics from CSV files in the layout of ``../shared/data/onchain``.

    ``metrics`` and ``assets`` (None = all) select what is returned; names as in the warehouse.
    """

    def __init__(
        self,
        directory: Path | str,
        *,
        metrics: list[str] | None = None,
        assets: list[str] | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.directory = Path(directory).expanduser()
        self.metrics = set(metrics) if metrics else None
        self.assets = {a.upper() for a in assets} if assets else None
        self._clock = clock

    def fetch_metrics(
        self, start: TimeLike, end: TimeLike, *, horizon: Horizon | None = None
    ) -> FetchResult:
        lo, hi = utc_window(start, end)
        rejects = RejectLog(ASSET_KEY, self._clock())
        parts = [
            self._read(path, Window(lo, hi, horizon), rejects)
            for path in self._files()
            if self._wanted(path)
        ]
        frame = metrics_frame(
            parts, source="replay", ingested_at=rejects.ingested_at, rejects=rejects
        )
        return FetchResult(frame, rejects.frame())

    def _files(self) -> list[Path]:
        if not self.directory.is_dir():
            raise FileNotFoundError(f"on-chain replay directory {self.directory} does not exist")
        files = sorted(
            p
            for p in self.directory.glob("*.csv")
            if _BLOCKCHAINCOM_FILE.match(p.name) or _COINMETRICS_FILE.match(p.name)
        )
        if not files:
            raise FileNotFoundError(
                f"no blockchaincom_<asset>_<metric>.csv or coinmetrics_<ASSET>_<freq>.csv "
                f"files in {self.directory}"
            )
        return files

    def _wanted(self, path: Path) -> bool:
        match = _BLOCKCHAINCOM_FILE.match(path.name) or _COINMETRICS_FILE.match(path.name)
        assert match is not None
        if self.assets is not None and match["asset"].upper() not in self.assets:
            return False
        single = match.groupdict().get("metric")
        return self.metrics is None or single is None or single in self.metrics

    def _read(self, path: Path, window: Window, rejects: RejectLog) -> pd.DataFrame:
        read = read_csv_lines(path, rejects)
        if read is None:
            return pd.DataFrame()
        table = read.frame
        if "timestamp" not in read.header:
            rejects.add(
                "missing column: timestamp",
                origin=path.name,
                record={"columns": read.header},
            )
            return pd.DataFrame()
        if match := _BLOCKCHAINCOM_FILE.match(path.name):
            asset, metric = match["asset"].upper(), match["metric"]
            if metric not in table.columns:
                rejects.add(
                    f"missing column: {metric}",
                    origin=path.name,
                    record={"columns": read.header},
                )
                return pd.DataFrame()
            long = table[["timestamp", metric, "line"]].rename(columns={metric: "raw"})
            long["metric"] = metric
            skip_empty = False
        else:
            match = _COINMETRICS_FILE.match(path.name)
            assert match is not None
            asset = match["asset"].upper()
            columns = [
                c for c in read.header if c != "timestamp" and c not in COINMETRICS_NON_METRICS
            ]
            wide = table[["timestamp", "line", *columns]]
            long = wide.melt(id_vars=["timestamp", "line"], var_name="metric", value_name="raw")
            long["metric"] = long["metric"].map(lambda c: COINMETRICS_EQUIVALENTS.get(c, c))
            if self.metrics is not None:
                long = long[long["metric"].isin(self.metrics)]
            skip_empty = True  # a wide file leaves unpublished metrics empty
        return _long_rows(long, asset, path.name, window, rejects, skip_empty=skip_empty)


@dataclass(frozen=True)
class Window:
    """A fetch's ``[lo, hi)`` and the horizon outside which a value is quarantined."""

    lo: datetime
    hi: datetime
    horizon: Horizon | None = None


def _long_rows(
    long: pd.DataFrame,
    asset: str,
    origin: str,
    window: Window,
    rejects: RejectLog,
    *,
    skip_empty: bool,
) -> pd.DataFrame:
    """Validated ``asset, metric, ts, value`` rows from a ``timestamp, metric, raw, line`` frame.

    Bad rows go to ``rejects``: an unparseable timestamp or one outside the horizon always (no
    window can hold it), a missing or non-numeric value when its timestamp is inside the window.
    Negative values are judged later, by :func:`metrics_frame`, after conflicts.
    """
    lo, hi, horizon = window.lo, window.hi, window.horizon
    if skip_empty:
        long = long[long["raw"].str.strip() != ""]
    stamps = pd.to_datetime(long["timestamp"], utc=True, errors="coerce", format="ISO8601")
    stamps = stamps.dt.tz_localize(None)
    raw = long["raw"].str.strip()
    values = pd.to_numeric(raw, errors="coerce").astype("float64")
    finite = np.isfinite(values.to_numpy())
    bad_time = stamps.isna().to_numpy()
    stray = np.zeros(len(long), dtype=bool)
    if horizon is not None:
        stray = (~bad_time) & ~((stamps >= horizon.first) & (stamps < horizon.until)).to_numpy()
    in_window = ((stamps >= lo) & (stamps < hi)).to_numpy() & ~stray
    bad_value = ~bad_time & ~finite & in_window
    for position in np.flatnonzero(bad_time | stray | bad_value):
        row = long.iloc[position]
        if bad_time[position]:
            reason = f"unparseable timestamp: {row['timestamp']!r}"
        elif stray[position]:
            assert horizon is not None
            reason = horizon.problem("ts", stamps.iloc[position].to_pydatetime()) or "stray"
        elif raw.iloc[position] == "":
            reason = "missing value"
        else:
            reason = f"bad value: {raw.iloc[position]!r} is not a finite number"
        rejects.add(
            reason,
            origin=f"{origin}:{row['line']}",
            record={"timestamp": row["timestamp"], row["metric"]: row["raw"]},
        )
    good = in_window & ~bad_time & finite
    return pd.DataFrame(
        {
            "asset": asset,
            "metric": long["metric"].to_numpy()[good],
            "ts": stamps.to_numpy()[good],
            "value": values.to_numpy()[good],
            "origin": [f"{origin}:{line}" for line in long["line"].to_numpy()[good]],
        }
    )


def onchain_source_from_config(config: OnchainConfig, *, samples_root: Path | str) -> OnchainSource:
    """The backend ``config.source`` selects, for ``config.metrics``.

    ``live``: :class:`HttpOnchain` on ``config.base_url``. ``replay``: :class:`ReplayOnchain` on
    ``config.replay_dir``, or, when it is unset, on the embedded sample (re)written under
    ``samples_root`` (BTC, ETH and SOL).
    """
    if config.source == "live":
        return HttpOnchain(config.base_url, config.metrics)
    directory = config.replay_dir or ensure_samples(samples_root).onchain_dir
    return ReplayOnchain(directory, metrics=config.metrics)
