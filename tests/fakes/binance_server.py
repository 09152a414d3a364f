"""A Binance-compatible fake exchange server on 127.0.0.1, for tests through real ccxt.

In process::

    with FakeBinance() as fake:
        fake.add_candles("BTCUSDT", "1h", frame)
        ex = make_ccxt_client(fake.url)
        ex.fetch_ohlcv("BTC/USDT", "1h", since=...)
        fake.inject("accept_then_timeout")          # next POST /api/v3/order
        assert fake.count_requests("POST", "/api/v3/order") == 1

As its own process (so a crash test can kill -9 the client while the exchange keeps state)::

    python -m tests.fakes.binance_server --port 0 --state /tmp/x/state.json

prints ``FakeBinance listening on http://127.0.0.1:PORT`` and serves until SIGTERM/SIGINT or
until its parent process exits; drive it
with ``tests.fakes.binance_remote.RemoteFakeBinance`` (the ``/_admin/<operation>`` JSON API,
the same operations the in-process object has as methods).
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.binance_exchange import FakeExchange
from tests.fakes.binance_futures import handle  # futures paths, then the spot API
from tests.fakes.binance_market import DEFAULT_SYMBOLS, SymbolSpec
from tests.fakes.binance_values import Number
from tests.fakes.faults import ACCEPTS, CONNECTION_FAULTS, HANGS, FaultPlan, http_fault

if TYPE_CHECKING:
    import ccxt

ADMIN_PREFIX = "/_admin/"

# Operations the /_admin API exposes: every test operation of FakeExchange plus faults and
# the request log. Anything else (the api_* methods, internals) is unreachable from outside.
ADMIN_OPERATIONS: frozenset[str] = frozenset(
    {
        "add_symbol",
        "add_candles",
        "correct_candle",
        "set_order_book",
        "add_trades",
        "set_price",
        "trade_through",
        "partial_fill",
        "forget_order",
        "set_balance",
        "set_commission",
        "set_commission_asset",
        "set_key_permissions",
        "set_time",
        "advance_time",
        "use_wall_clock",
        "now_ms",
        "orders",
        "order",
        "trades",
        "public_trades",
        "balances",
        "state",
        "inject",
        "clear_faults",
        "pending_faults",
        "request_log",
        "clear_requests",
        "count_requests",
    }
)


class FakeBinance(FakeExchange):
    """The fake exchange plus its HTTP server, fault injection and request log.

    ``port=0`` lets the OS choose a free port; ``url`` is known after ``start()``.
    ``hang_seconds`` bounds how long a ``timeout`` fault holds a request when the client
    does not give up first. The other arguments are ``FakeExchange``'s: listed symbols
    (``DEFAULT_SYMBOLS``: BTC, ETH, SOL, XRP, ADA against USDT, and XRP/ETH), starting free
    balances (default 10,000 USDT), commission rates, the one accepted key pair, and the
    JSON state file (loaded if it exists, rewritten after every change).
    """

    def __init__(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        hang_seconds: float = 30.0,
        symbols: Iterable[SymbolSpec] = DEFAULT_SYMBOLS,
        balances: dict[str, Number] | None = None,
        maker_commission: Number = "0.001",
        taker_commission: Number = "0.001",
        commission_asset: str = "quote",
        api_key: str = "test",
        secret: str = "test",
        state_path: str | Path | None = None,
    ) -> None:
        super().__init__(
            symbols=symbols,
            balances=balances,
            maker_commission=maker_commission,
            taker_commission=taker_commission,
            commission_asset=commission_asset,
            api_key=api_key,
            secret=secret,
            state_path=state_path,
        )
        self.faults = FaultPlan()
        self.hang_seconds = hang_seconds
        self.internal_errors: list[str] = []
        self._host = host
        self._port = port
        self._log: list[dict[str, Any]] = []
        self._log_lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------ lifecycle

    def start(self) -> FakeBinance:
        if self._server is not None:
            raise RuntimeError("FakeBinance is already running")
        self._stopping.clear()
        server = ThreadingHTTPServer((self._host, self._port), _Handler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        # A short poll interval makes stop() quick (shutdown waits for the next poll).
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"FakeBinance:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; held (``timeout``) requests are released at once."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeBinance:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeBinance is not running: call start() first")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    # ------------------------------------------------------------------- faults and log

    def inject(
        self,
        fault: str,
        path: str = "/api/v3/order",
        method: str = "POST",
        count: int = 1,
        retry_after: int = 1,
    ) -> None:
        """Make the next ``count`` requests to ``method path`` fail with ``fault`` (one of
        ``faults.FAULTS``; ``"*"`` matches any path or method)."""
        self.faults.add(fault, path, method, count, retry_after)

    def clear_faults(self) -> None:
        self.faults.clear()

    def pending_faults(self) -> list[dict[str, Any]]:
        return self.faults.pending()

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every API request so far (not /_admin): method, path, params (without the
        signature), status (None when no response was sent), fault, time (wall ms)."""
        return self.request_log()

    def request_log(self) -> list[dict[str, Any]]:
        with self._log_lock:
            return [dict(entry) for entry in self._log]

    def clear_requests(self) -> None:
        with self._log_lock:
            self._log.clear()

    def count_requests(self, method: str | None = None, path: str | None = None) -> int:
        with self._log_lock:
            return sum(
                1
                for entry in self._log
                if method in (None, entry["method"]) and path in (None, entry["path"])
            )

    def _record(
        self, method: str, path: str, params: dict[str, str], status: int | None, fault: str | None
    ) -> None:
        entry = {
            "method": method,
            "path": path,
            "params": params,
            "status": status,
            "fault": fault,
            "time": int(time.time() * 1000),
        }
        with self._log_lock:
            self._log.append(entry)

    # -------------------------------------------------------------------------- serving

    def _serve_api(self, handler: _Handler, path: str, query: str, body: str) -> None:
        method = handler.command
        params = {
            k: v
            for k, v in parse_qsl(query, keep_blank_values=True)
            + parse_qsl(body, keep_blank_values=True)
            if k != "signature"
        }
        rule = self.faults.take(method, path)
        fault = None if rule is None else rule.fault
        if rule is not None and fault not in CONNECTION_FAULTS:
            status, payload, headers = http_fault(rule, self.now_ms())
            self._record(method, path, params, status, fault)
            handler.send(status, payload, headers)
            return
        if fault in ACCEPTS:
            handle(self, method, path, query, body, handler.headers)  # acted on; answer lost
        if fault in CONNECTION_FAULTS:
            self._record(method, path, params, None, fault)
            self._drop(handler, hang=fault in HANGS)
            return
        response = handle(self, method, path, query, body, handler.headers)
        self._record(method, path, params, response.status, None)
        handler.send(response.status, response.payload, response.headers)

    def _drop(self, handler: _Handler, hang: bool) -> None:
        """Never answer: hold the request until the client gives up, or reset it now."""
        handler.close_connection = True
        sock = handler.connection
        if hang:
            deadline = time.monotonic() + self.hang_seconds
            while not self._stopping.is_set() and time.monotonic() < deadline:
                readable, _, _ = select.select([sock], [], [], 0.05)
                if readable:
                    try:
                        if not sock.recv(1, socket.MSG_PEEK):
                            return  # the client closed its side: it has timed out
                    except OSError:
                        return
                    time.sleep(0.05)
            return
        # SO_LINGER 0 turns close() into a TCP RST, which the client sees as a reset.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        socket.close(sock.detach())

    def _serve_admin(self, handler: _Handler, path: str, query: str, body: str) -> None:
        name = path[len(ADMIN_PREFIX) :]
        if name not in ADMIN_OPERATIONS:
            handler.send(
                404,
                {"error": f"unknown admin operation {name!r}; allowed: {sorted(ADMIN_OPERATIONS)}"},
                {},
            )
            return
        try:
            kwargs = json.loads(body) if body else dict(parse_qsl(query))
            result = getattr(self, name)(**kwargs)
        except (ValueError, KeyError, TypeError) as error:
            handler.send(400, {"error": f"{type(error).__name__}: {error}"}, {})
            return
        handler.send(200, {"result": result}, {})

    def _internal_error(self, handler: _Handler) -> None:
        """A bug in the fake: answer 500 with the traceback and keep it for the test."""
        text = traceback.format_exc()
        self.internal_errors.append(text)
        print(f"FakeBinance internal error:\n{text}", file=sys.stderr)
        handler.send(500, {"code": -1000, "msg": f"fake exchange bug: {text.splitlines()[-1]}"}, {})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as ccxt's requests session expects
    # Headers and body go out in two writes; with Nagle on, the body waits for the client's
    # delayed ACK and every response takes ~40 ms.
    disable_nagle_algorithm = True
    server_version = "FakeBinance/1"

    def _dispatch(self) -> None:
        fake: FakeBinance = self.server.fake  # type: ignore[attr-defined]
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        try:
            if split.path.startswith(ADMIN_PREFIX):
                fake._serve_admin(self, split.path, split.query, body)
            else:
                fake._serve_api(self, split.path, split.query, body)
        except ConnectionError:
            self.close_connection = True  # the client went away: nobody to answer
        except Exception:
            fake._internal_error(self)

    do_GET = do_POST = do_PUT = do_DELETE = _dispatch

    def send(self, status: int, payload: object, headers: dict[str, str]) -> None:
        if isinstance(payload, str):
            data, content_type = payload.encode(), "text/html"
        elif payload is None:
            data, content_type = b"", "text/plain"
        else:
            data, content_type = json.dumps(payload).encode(), "application/json;charset=UTF-8"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the request log on FakeBinance is the record tests read."""


def make_ccxt_client(
    url: str,
    api_key: str = "test",
    secret: str = "test",
    timeout: int = 3000,
    **options: Any,
) -> ccxt.binance:
    """A real ``ccxt.binance`` client whose every endpoint points at the fake at ``url``.

    Sandbox mode first (so ccxt skips the mainnet-only calls such as currencies), then every
    API base URL is rebased onto the fake, keeping ccxt's own path (``/api/v3`` ...): a call
    the fake does not serve answers 404 instead of reaching the internet. ``timeout`` is in
    ms; ``options`` are merged into ccxt's ``options`` (spot markets only by default, so
    ``load_markets`` makes one ``/api/v3/exchangeInfo`` call).
    """
    import ccxt  # here, not at the top: the exchange process itself never needs ccxt

    client = ccxt.binance(
        {
            "apiKey": api_key,
            "secret": secret,
            "enableRateLimit": True,
            "timeout": timeout,
            "options": {"fetchMarkets": {"types": ["spot"]}, **options},
        }
    )
    client.set_sandbox_mode(True)
    base = url.rstrip("/")
    # "apiBackup" (mainnet, restored by set_sandbox_mode(False)) and "demo" too: no table
    # of this client may lead off the machine.
    for table in ("api", "test", "demo", "apiBackup"):
        urls = client.urls.get(table)
        if isinstance(urls, dict):
            for name, endpoint in urls.items():
                urls[name] = base + urlsplit(endpoint).path
    return client


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0: let the OS choose")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--state", default=None, help="JSON state file (kept across restarts)")
    parser.add_argument("--api-key", default="test")
    parser.add_argument("--secret", default="test")
    args = parser.parse_args(argv)
    fake = FakeBinance(
        port=args.port,
        host=args.host,
        state_path=args.state,
        api_key=args.api_key,
        secret=args.secret,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    parent = os.getppid()
    fake.start()
    print(f"FakeBinance listening on {fake.url}", flush=True)
    # Serve until told to stop, or until the parent (the test run) is gone: a crashed test
    # session must not leave exchanges behind.
    while not stop.wait(0.5) and os.getppid() == parent:
        pass
    fake.stop()


if __name__ == "__main__":
    main()
