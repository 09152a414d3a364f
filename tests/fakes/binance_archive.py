"""A fake ``data.binance.vision`` on 127.0.0.1: kline zips and their ``.CHECKSUM`` files.

::

    with FakeArchive() as archive:
        archive.publish_month("BTCUSDT", "1h", candles, "2023-01")   # zip + CHECKSUM
        archive.publish_day("BTCUSDT", "1h", candles, "2023-02-03", time_unit="us")
        archive.corrupt("BTCUSDT-1h-2023-01.zip")                   # flip bytes after hashing
        ArchiveClient(archive.url, cache_dir).fetch(...)
        archive.requests  # paths asked for, in order

Files are built from an OHLCV frame (``ts`` open times, naive UTC) in the 12-column layout of
Binance's archive, open and close times in epoch ms (or us, as the spot files from 2025 on).
"""

from __future__ import annotations

import hashlib
import io
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd

from trading_core.timeframes import TIMEFRAME_SECONDS


def kline_csv(
    candles: pd.DataFrame, timeframe: str, time_unit: str = "ms", header: bool = False
) -> str:
    scale = {"ms": 1_000, "us": 1_000_000}[time_unit]
    step = TIMEFRAME_SECONDS[timeframe] * scale
    opens = (pd.to_datetime(candles["ts"]).astype("datetime64[s]").astype("int64") * scale).tolist()
    lines = ["open_time,open,high,low,close,volume,close_time,quote_volume,count,"
             "taker_buy_volume,taker_buy_quote_volume,ignore"] if header else []  # fmt: skip
    for t, o, h, lo, c, v in zip(
        opens, candles["open"], candles["high"], candles["low"], candles["close"],
        candles["volume"], strict=True,
    ):  # fmt: skip
        lines.append(f"{t},{o!r},{h!r},{lo!r},{c!r},{v!r},{t + step - 1},{v * c!r},10,0,0,0")
    return "\n".join(lines) + "\n"


def zipped(name: str, text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name.replace(".zip", ".csv"), text)
    return buffer.getvalue()


class FakeArchive:
    """Serves ``files`` (path -> bytes) over HTTP; 404 for anything else."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start the fake archive first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _publish(self, kind: str, market: str, timeframe: str, period: str, text: str) -> str:
        name = f"{market}-{timeframe}-{period}.zip"
        path = f"data/spot/{kind}/klines/{market}/{timeframe}/{name}"
        body = zipped(name, text)
        self.files[path] = body
        self.files[path + ".CHECKSUM"] = f"{hashlib.sha256(body).hexdigest()}  {name}\n".encode()
        return path

    def publish_month(
        self, market: str, timeframe: str, candles: pd.DataFrame, month: str, **csv: object
    ) -> str:
        start = pd.Timestamp(month + "-01")
        rows = candles[(candles["ts"] >= start) & (candles["ts"] < start + pd.offsets.MonthBegin())]
        return self._publish("monthly", market, timeframe, month, kline_csv(rows, timeframe, **csv))  # type: ignore[arg-type]

    def publish_day(
        self, market: str, timeframe: str, candles: pd.DataFrame, day: str, **csv: object
    ) -> str:
        start = pd.Timestamp(day)
        rows = candles[(candles["ts"] >= start) & (candles["ts"] < start + pd.Timedelta(days=1))]
        return self._publish("daily", market, timeframe, day, kline_csv(rows, timeframe, **csv))  # type: ignore[arg-type]

    def publish_text(self, kind: str, market: str, timeframe: str, period: str, text: str) -> str:
        """A file with exactly this CSV text (for malformed content), correctly hashed."""
        return self._publish(kind, market, timeframe, period, text)

    def corrupt(self, name: str) -> None:
        """Alter a published zip after its checksum was written (a truncated download)."""
        [path] = [p for p in self.files if p.endswith("/" + name)]
        self.files[path] = self.files[path][:-7]

    def __enter__(self) -> FakeArchive:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.lstrip("/")
                fake.requests.append(path)
                body = fake.files.get(path)
                self.send_response(200 if body is not None else 404)
                payload = body if body is not None else b"<Error><Code>NoSuchKey</Code></Error>"
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def fake_archive() -> Iterator[FakeArchive]:
    with FakeArchive() as archive:
        yield archive
