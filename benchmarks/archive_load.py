"""A month of 1m candles for one symbol through Binance's archive path, from the local fake
archive (``tests.fakes.binance_archive``): download, sha256 check, unzip, parse, and the
month's candles as ``ArchiveMarket.fetch_ohlcv`` returns them. The 1m candles are built from
the real BTC/USDT 1h series (each hour split into 60 minutes around its path), so the file
holds real price levels; the archive's own format and size (about 44,640 rows, a 1.9 MB zip).

    .venv/bin/python benchmarks/archive_load.py [--repeat 5]

Cold = an empty cache (the download counts); warm = the verified file read from the cache.
Target (issue 19): a month of 1m candles in <= 10 s. Times are medians of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.binance_archive import FakeArchive  # noqa: E402
from trading_core.backtest import read_ohlcv_csv  # noqa: E402
from trading_core.market.archive_source import ArchiveMarket  # noqa: E402
from trading_core.market.binance_archive import ArchiveClient  # noqa: E402

DATA = ROOT / ".." / "shared" / "data" / "market" / "binance_BTCUSDT_1h.csv"
MONTH = datetime(2023, 3, 1)


def minute_candles() -> pd.DataFrame:
    hours = read_ohlcv_csv(DATA)
    hours = hours[(hours["ts"] >= MONTH) & (hours["ts"] < datetime(2023, 4, 1))]
    rng = np.random.default_rng(1)
    rows = []
    for bar in hours.itertuples():
        path = np.linspace(bar.open, bar.close, 61) + rng.normal(0, 1e-4 * bar.close, 61)
        path[0], path[-1] = bar.open, bar.close
        for minute in range(60):
            o, c = path[minute], path[minute + 1]
            rows.append((bar.ts + pd.Timedelta(minutes=minute), o, max(o, c), min(o, c), c,
                         bar.volume / 60))  # fmt: skip
    return pd.DataFrame(rows, columns=["ts", "open", "high", "low", "close", "volume"])


class _NoRest:
    name = "none"

    def fetch_ohlcv(self, *args: object, **kwargs: object) -> pd.DataFrame:
        return pd.DataFrame()

    def fetch_order_book(self, *args: object, **kwargs: object) -> object:
        raise NotImplementedError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    candles = minute_candles()
    cold, warm = [], []
    with FakeArchive() as archive:
        archive.publish_month("BTCUSDT", "1m", candles, "2023-03")
        size = max(len(b) for b in archive.files.values())
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as cache:
                for times in (cold, warm):
                    market = ArchiveMarket(_NoRest(), ArchiveClient(archive.url, Path(cache)))  # type: ignore[arg-type]
                    began = time.perf_counter()
                    got = market.fetch_ohlcv(
                        "binance", "BTC/USDT", "1m", MONTH, datetime(2023, 4, 1),
                        now=datetime(2023, 5, 1),
                    )  # fmt: skip
                    times.append(time.perf_counter() - began)
                    assert len(got) == len(candles) and not market.rejects, market.rejects
    print(f"candles: {len(candles):,}  zip: {size / 1e6:.2f} MB  runs: {args.repeat}")
    for label, times in (("cold (download + verify + parse)", cold), ("warm (cache)", warm)):
        median = statistics.median(times)
        print(f"{label:34s} median {median:.3f} s  ({len(candles) / median / 1e6:.2f} M/s)")


if __name__ == "__main__":
    main()
