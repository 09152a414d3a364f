"""Binance's public kline archive (``data.binance.vision``): download, verify, parse.

The archive holds one zip per symbol, interval and month (``monthly``) or day (``daily``)::

    {base}/data/spot/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01.zip
    {base}/data/spot/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01.zip.CHECKSUM

The ``.CHECKSUM`` file is ``<sha256>  <file name>``. Each zip holds one CSV of the 12 columns
of Binance's kline REST answer (open time, open, high, low, close, volume, close time, quote
volume, trades, taker buy base, taker buy quote, ignore), sometimes with a header line. Open
times are epoch milliseconds, and microseconds in the spot files from 2025-01-01 on: the unit
is read from the magnitude and checked against the file's own period, so a candle is never
placed in the wrong year.

A file is used whole or not at all: a wrong checksum, a broken zip, a malformed line, a time
outside the file's period or off the interval grid rejects the file with a reason
(``ArchiveRejected``) and the caller falls back to the REST API for its window
(``trading_core.market.archive_source``). Verified files are cached on disk and re-verified
when read again.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import requests
from pyarrow import csv as pa_csv

from trading_core.market.base import OHLCV_COLUMNS

DEFAULT_ARCHIVE_URL = "https://data.binance.vision"
# Binance kline intervals that map one to one to ours (1w and 1M have calendar rules).
ARCHIVE_TIMEFRAMES = (
    "1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d",
)  # fmt: skip
_KLINE_COLUMNS = 12
_MS_PER_S, _US_PER_S = 1_000, 1_000_000


class ArchiveMissing(LookupError):
    """The archive has no file for this period (HTTP 404): not yet published, or no trading."""


class ArchiveRejected(ValueError):
    """A file exists but cannot be trusted; the message says which file and why."""


@dataclass(frozen=True)
class ArchiveFile:
    """One archive file: a month (``period`` ``2024-01``) or a day (``2024-01-05``)."""

    market: str  # exchange symbol, BTCUSDT
    timeframe: str
    kind: str  # monthly | daily
    period: str
    start: datetime  # first open time the file covers (naive UTC)
    end: datetime  # exclusive

    @property
    def name(self) -> str:
        return f"{self.market}-{self.timeframe}-{self.period}.zip"

    @property
    def path(self) -> str:
        folder = f"data/spot/{self.kind}/klines/{self.market}/{self.timeframe}"
        return f"{folder}/{self.name}"


def monthly_file(market: str, timeframe: str, month_start: datetime) -> ArchiveFile:
    following = (month_start.replace(day=1) + timedelta(days=32)).replace(day=1)
    period = month_start.strftime("%Y-%m")
    return ArchiveFile(market, timeframe, "monthly", period, month_start, following)


def daily_file(market: str, timeframe: str, day_start: datetime) -> ArchiveFile:
    period = day_start.strftime("%Y-%m-%d")
    return ArchiveFile(market, timeframe, "daily", period, day_start, day_start + timedelta(1))


def _checksum_of(text: str, file: ArchiveFile) -> str:
    parts = text.split()
    if not parts or len(parts[0]) != 64 or any(c not in "0123456789abcdef" for c in parts[0]):
        raise ArchiveRejected(f"{file.name}: its .CHECKSUM file is not '<sha256>  <name>'")
    if len(parts) > 1 and parts[1].lstrip("*") != file.name:
        raise ArchiveRejected(f"{file.name}: its .CHECKSUM file names {parts[1]!r}")
    return parts[0]


class ArchiveClient:
    """Downloads and caches verified archive files under ``cache_dir``."""

    def __init__(
        self,
        base_url: str = DEFAULT_ARCHIVE_URL,
        cache_dir: Path | None = None,
        session: requests.Session | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.cache_dir = cache_dir
        self.session = session or requests.Session()
        self.timeout = timeout

    def _get(self, path: str, file: ArchiveFile) -> bytes:
        url = f"{self.base_url}/{path}"
        try:
            answer = self.session.get(url, timeout=self.timeout)
        except requests.RequestException as exc:
            raise ArchiveMissing(f"{file.name}: {type(exc).__name__} fetching {url}") from exc
        if answer.status_code == 404:
            raise ArchiveMissing(f"{file.name}: not in the archive (404 at {url})")
        if answer.status_code != 200:
            raise ArchiveMissing(f"{file.name}: HTTP {answer.status_code} at {url}")
        return answer.content

    def fetch(self, file: ArchiveFile) -> bytes:
        """The zip's bytes, verified against its published sha256."""
        cached = self.cache_dir / file.path if self.cache_dir is not None else None
        if cached is not None and cached.is_file() and cached.with_suffix(".sha256").is_file():
            body = cached.read_bytes()
            if hashlib.sha256(body).hexdigest() == cached.with_suffix(".sha256").read_text():
                return body
        listed = self._get(file.path + ".CHECKSUM", file).decode("ascii", "replace")
        expected = _checksum_of(listed, file)
        body = self._get(file.path, file)
        actual = hashlib.sha256(body).hexdigest()
        if actual != expected:
            raise ArchiveRejected(
                f"{file.name}: sha256 {actual[:12]}... does not match the published "
                f"{expected[:12]}... (truncated or altered download)"
            )
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_name(cached.name + ".part")
            partial.write_bytes(body)
            partial.replace(cached)
            cached.with_suffix(".sha256").write_text(actual)
        return body


def _csv_bytes(body: bytes, file: ArchiveFile) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            members = [m for m in archive.namelist() if m.endswith(".csv")]
            if len(members) != 1:
                raise ArchiveRejected(f"{file.name}: holds {len(members)} CSV files, not one")
            return archive.read(members[0])
    except (zipfile.BadZipFile, EOFError) as exc:
        raise ArchiveRejected(f"{file.name}: not a readable zip ({exc})") from None


def _table(data: bytes, file: ArchiveFile) -> np.ndarray:
    """The CSV as a float64 matrix, strictly: every field a number, 12 per line."""
    if data.startswith(b"open_time,"):
        data = data[data.find(b"\n") + 1 :]  # the header line of the newer files
    if not data.strip():
        raise ArchiveRejected(f"{file.name}: holds no candles")
    names = [f"c{i}" for i in range(_KLINE_COLUMNS)]
    try:
        table = pa_csv.read_csv(
            io.BytesIO(data),
            read_options=pa_csv.ReadOptions(column_names=names),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.float64()), null_values=[""]
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ArchiveRejected(f"{file.name}: malformed line ({exc})") from None
    if any(column.null_count for column in table.columns):
        raise ArchiveRejected(f"{file.name}: malformed line (an empty field)")
    return np.column_stack([column.to_numpy() for column in table.columns])


def _open_times(raw: np.ndarray, file: ArchiveFile, step_s: int) -> np.ndarray:
    """Open times as datetime64[us], the unit read from the magnitude and checked."""
    start_s = int(pd.Timestamp(file.start).timestamp())
    end_s = int(pd.Timestamp(file.end).timestamp())
    scale = _US_PER_S if raw.size and raw.max() >= 10**14 else _MS_PER_S
    if raw.size and raw.min() < 10**11:
        raise ArchiveRejected(f"{file.name}: open times are not epoch ms or us")
    if np.any(raw % (scale * step_s)):
        line = int(np.argmax(raw % (scale * step_s) != 0))
        raise ArchiveRejected(f"{file.name}: row {line + 1} is off the {file.timeframe} grid")
    outside = (raw < start_s * scale) | (raw >= end_s * scale)
    if np.any(outside):
        line = int(np.argmax(outside))
        raise ArchiveRejected(
            f"{file.name}: row {line + 1} opens outside {file.period} (wrong time unit?)"
        )
    us = raw * (_US_PER_S // scale)
    return us.astype("datetime64[us]")


def parse_klines(
    body: bytes, file: ArchiveFile, exchange: str, symbol: str, step_s: int
) -> pd.DataFrame:
    """The candles of one verified zip in ``OHLCV_COLUMNS``, sorted, unique, all or nothing."""
    table = _table(_csv_bytes(body, file), file)
    if not np.isfinite(table[:, :6]).all():
        raise ArchiveRejected(f"{file.name}: a price or volume is not a finite number")
    ts = _open_times(table[:, 0].astype("int64"), file, step_s)
    if np.unique(ts).size != ts.size:
        raise ArchiveRejected(f"{file.name}: an open time appears twice")
    order = np.argsort(ts, kind="stable")
    n = ts.size
    return pd.DataFrame(
        {
            "exchange": [exchange] * n,
            "symbol": [symbol] * n,
            "timeframe": [file.timeframe] * n,
            "ts": ts[order],
            "open": table[order, 1],
            "high": table[order, 2],
            "low": table[order, 3],
            "close": table[order, 4],
            "volume": table[order, 5],
        },
        columns=OHLCV_COLUMNS,
    )
