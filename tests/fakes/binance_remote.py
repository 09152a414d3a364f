"""Drive a FakeBinance in another process: the admin client and the process launcher.

Crash tests kill -9 the *executor* while the exchange keeps its orders; the exchange must
therefore live in its own process::

    with FakeBinanceProcess(state_path=tmp_path / "exchange.json") as exchange:
        exchange.remote.set_order_book("BTCUSDT", bids=[...], asks=[...])
        ... run and kill the executor against exchange.url ...
        assert len(exchange.remote.orders()) == 1

``RemoteFakeBinance`` has the same operations as the in-process ``FakeBinance`` (seeding,
prices, fills, faults, reads); it speaks the ``/_admin/<operation>`` JSON API.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import requests

from tests.fakes.binance_frames import candle_rows, trade_records
from tests.fakes.binance_values import Moment, Number, to_ms

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_PREFIX = "FakeBinance listening on "


class AdminError(RuntimeError):
    """The fake refused an admin operation (bad arguments); the message says why."""


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


class RemoteFakeBinance:
    """The admin API of a FakeBinance at ``url`` (any process on this machine)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._timeout = timeout
        self._session = requests.Session()

    def _call(self, operation: str, **kwargs: Any) -> Any:
        body = {k: _jsonable(v) for k, v in kwargs.items() if v is not None}
        response = self._session.post(
            f"{self.url}/_admin/{operation}", json=body, timeout=self._timeout
        )
        payload = response.json()
        if response.status_code != 200:
            raise AdminError(f"{operation}: {payload.get('error', payload)}")
        return payload["result"]

    # Seeding and market moves.
    def add_symbol(
        self,
        base: str,
        quote: str,
        tick_size: Number,
        step_size: Number,
        min_notional: Number = "5",
        **overrides: Number,
    ) -> str:
        return self._call(
            "add_symbol",
            base=base,
            quote=quote,
            tick_size=tick_size,
            step_size=step_size,
            min_notional=min_notional,
            **overrides,
        )

    def add_candles(self, symbol: str, interval: str, frame: pd.DataFrame | list[list[Any]]) -> int:
        return self._call(
            "add_candles",
            symbol=symbol,
            interval=interval,
            frame=frame if isinstance(frame, list) else candle_rows(frame),
        )

    def correct_candle(
        self, symbol: str, interval: str, open_time: Moment, **values: Number
    ) -> None:
        self._call(
            "correct_candle", symbol=symbol, interval=interval, open_time=to_ms(open_time), **values
        )

    def set_order_book(
        self, symbol: str, bids: list[tuple[Number, Number]], asks: list[tuple[Number, Number]]
    ) -> None:
        self._call("set_order_book", symbol=symbol, bids=bids, asks=asks)

    def add_trades(self, symbol: str, frame: pd.DataFrame | list[dict[str, Any]]) -> int:
        return self._call(
            "add_trades",
            symbol=symbol,
            frame=frame if isinstance(frame, list) else trade_records(frame),
        )

    def set_price(self, symbol: str, price: Number) -> None:
        self._call("set_price", symbol=symbol, price=price)

    def trade_through(self, symbol: str, price: Number, qty: Number) -> None:
        self._call("trade_through", symbol=symbol, price=price, qty=qty)

    def partial_fill(
        self, client_order_id: str, qty: Number, symbol: str | None = None
    ) -> dict[str, Any]:
        return self._call("partial_fill", client_order_id=client_order_id, qty=qty, symbol=symbol)

    def forget_order(self, client_order_id: str, symbol: str | None = None) -> None:
        self._call("forget_order", client_order_id=client_order_id, symbol=symbol)

    def set_balance(self, asset: str, free: Number) -> None:
        self._call("set_balance", asset=asset, free=free)

    def set_commission(self, maker: Number | None = None, taker: Number | None = None) -> None:
        self._call("set_commission", maker=maker, taker=taker)

    def set_commission_asset(self, asset: str, price: Number | None = None) -> None:
        self._call("set_commission_asset", asset=asset, price=price)

    def set_key_permissions(self, **flags: bool) -> None:
        self._call("set_key_permissions", **flags)

    # Clock.
    def set_time(self, moment: Moment) -> None:
        self._call("set_time", moment=to_ms(moment))

    def advance_time(self, ms: int) -> None:
        self._call("advance_time", ms=ms)

    def use_wall_clock(self) -> None:
        self._call("use_wall_clock")

    def now_ms(self) -> int:
        return self._call("now_ms")

    # Reads.
    def orders(self, symbol: str | None = None) -> list[dict[str, Any]]:
        return self._call("orders", symbol=symbol)

    def order(self, client_order_id: str, symbol: str | None = None) -> dict[str, Any] | None:
        return self._call("order", client_order_id=client_order_id, symbol=symbol)

    def trades(self, symbol: str | None = None) -> list[dict[str, Any]]:
        return self._call("trades", symbol=symbol)

    def public_trades(self, symbol: str) -> list[dict[str, Any]]:
        return self._call("public_trades", symbol=symbol)

    def balances(self) -> dict[str, dict[str, str]]:
        return self._call("balances")

    def state(self) -> dict[str, Any]:
        return self._call("state")

    # Faults and the request log.
    def inject(
        self,
        fault: str,
        path: str = "/api/v3/order",
        method: str = "POST",
        count: int = 1,
        retry_after: int = 1,
    ) -> None:
        self._call(
            "inject", fault=fault, path=path, method=method, count=count, retry_after=retry_after
        )

    def clear_faults(self) -> None:
        self._call("clear_faults")

    def pending_faults(self) -> list[dict[str, Any]]:
        return self._call("pending_faults")

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self._call("request_log")

    def clear_requests(self) -> None:
        self._call("clear_requests")

    def count_requests(self, method: str | None = None, path: str | None = None) -> int:
        return self._call("count_requests", method=method, path=path)


class FakeBinanceProcess:
    """``python -m tests.fakes.binance_server`` as a child process.

    ``port=0`` lets the OS choose (read back from the ready line); pass the old ``port`` and
    the same ``state_path`` to restart an exchange where it left off.
    """

    def __init__(
        self,
        state_path: str | Path | None = None,
        port: int = 0,
        startup_timeout: float = 30.0,
    ) -> None:
        self.state_path = state_path
        self._port = port
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> FakeBinanceProcess:
        command = [sys.executable, "-m", "tests.fakes.binance_server", "--port", str(self._port)]
        if self.state_path is not None:
            command += ["--state", str(self.state_path)]
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        self._process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert self._process.stdout is not None
        ready, _, _ = select.select([self._process.stdout], [], [], self._startup_timeout)
        line = self._process.stdout.readline() if ready else ""
        if not line.startswith(READY_PREFIX):
            self.kill()
            raise RuntimeError(
                f"fake exchange did not start within {self._startup_timeout}s "
                f"(exit code {self._process.poll()}, said {line!r})"
            )
        self.url = line[len(READY_PREFIX) :].strip()
        return self

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("the fake exchange process is not running")
        return self._process.pid

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def remote(self) -> RemoteFakeBinance:
        return RemoteFakeBinance(self.url)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM and wait: the state file is already current after every change."""
        if self._process is None or self._process.poll() is not None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL: the exchange itself crashes (for restart-from-state tests)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def __enter__(self) -> FakeBinanceProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        if self._process is not None and self._process.stdout is not None:
            self._process.stdout.close()
