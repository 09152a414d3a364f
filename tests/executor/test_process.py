"""`python -m executor run`: a long-running process with JSON logs, a health file and
endpoint, graceful stops, live-trading guards, and keys that never leak."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from executor.health import read_health
from executor.ledger import Ledger
from tests.executor.helpers import make_intent
from tests.fakes.binance_server import FakeBinance
from tests.fakes.http_json_server import FakeHTTPServer, Reply
from trading_core.timeframes import utc_now

REPO = Path(__file__).resolve().parents[2]
SENTINEL_KEY = "SENTINELKEY7f3a9c1e55aa"
SENTINEL_SECRET = "SENTINELSECRETb04d2e9977"


def executor_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADING_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # bytecode caches make each start faster
    env.update(
        TRADING_HOME=str(home), TRADING_MARKET_SOURCE="sim", TRADING_SYMBOLS="BTC/USDT", **extra
    )
    return env


def start(home: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "executor", "run", *args],
        cwd=REPO,
        env=executor_env(home, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition: Callable[[], object], timeout: float = 30.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout}s")


def stop(process: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[str, str]:
    process.send_signal(sig)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    return out, err


def log_lines(stderr: str) -> list[dict]:
    return [json.loads(line) for line in stderr.splitlines() if line.strip()]


def recent_intent(**kwargs: object):
    """An intent on the bar that closed last (decided at its close, as a strategy does)."""
    minute = utc_now().replace(second=0, microsecond=0) - timedelta(minutes=1)
    return make_intent(bar_ts=minute, **kwargs)


@pytest.mark.integration
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_paper_run_trades_publishes_reports_health_and_stops_gracefully(
    tmp_path: Path, sig: int
) -> None:
    home = tmp_path / "home"
    ledger = Ledger(f"sqlite:///{home / 'ledger.sqlite'}")
    ledger.add_intents([recent_intent(notional=100.0)])
    with FakeHTTPServer() as dagster:
        for key in ("execution/fills", "execution/orders"):
            dagster.route("POST", f"/report_asset_materialization/{key}", Reply.json({}))
        process = start(
            home,
            "--mode",
            "paper",
            "--tick-seconds",
            "0.2",
            "--health-port",
            "0",
            TRADING_DAGSTER_URL=dagster.url,
        )
        try:
            health = wait_for(
                lambda: (
                    (h := read_health(home / "executor"))
                    and h.get("fills")
                    and h["ticks"] >= 2
                    and h
                )
            )
            assert health["mode"] == "paper" and health["state"] == "ACTIVE"
            assert health["pid"] == process.pid
            assert wait_for(lambda: len(dagster.requests) >= 2)
        finally:
            _, err = stop(process, sig)
    lines = log_lines(err)
    assert all({"ts", "level", "logger", "msg"} <= set(line) for line in lines)
    url = next(line["url"] for line in lines if line["msg"] == "health endpoint up")
    assert lines[-1]["msg"] == "executor stopped"
    assert {r.path for r in dagster.requests} == {
        "/report_asset_materialization/execution/fills",
        "/report_asset_materialization/execution/orders",
    }
    assert list((home / "lake" / "execution" / "fills").rglob("*.parquet"))
    assert read_health(home / "executor")["stopped"] is True
    assert ledger.fill_count() == 1
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=2)  # the endpoint went down with the process
    ledger.close()


@pytest.mark.integration
def test_the_health_endpoint_answers_while_running(tmp_path: Path) -> None:
    home = tmp_path / "home"
    process = start(
        home,
        "--mode",
        "paper",
        "--tick-seconds",
        "0.2",
        "--health-port",
        "0",
        "--no-dagster-report",
    )
    try:
        wait_for(lambda: (read_health(home / "executor") or {}).get("ticks", 0) >= 1)
        # The port is in the log; read what has been written so far without blocking.
        os.set_blocking(process.stderr.fileno(), False)
        text = wait_for(lambda: process.stderr.read() or None)
        url = next(
            json.loads(line)["url"] for line in text.splitlines() if "health endpoint up" in line
        )
        response = requests.get(url, timeout=5)
        assert response.status_code == 200
        assert response.json()["fresh"] is True and response.json()["mode"] == "paper"
        second = start(home, "--mode", "paper", "--no-dagster-report")
        _, err = second.communicate(timeout=30)
        assert second.returncode == 2 and "another executor owns this ledger" in err
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--mode", "live"], {}, "--i-understand-live-trading"),
        (["--mode", "live", "--i-understand-live-trading"], {}, "needs exchange keys"),
        (["--mode", "live"], {"TRADING_LIVE_OPT_IN": "yes"}, "needs exchange keys"),
        (["--mode", "testnet"], {"TRADING_API_KEY": "only-a-key"}, "TRADING_API_SECRET"),
    ],
)
def test_live_and_testnet_refuse_to_start_without_opt_in_or_keys(
    tmp_path: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    process = start(tmp_path / "home", *args, "--exchange", "binance", **env)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2
    (line,) = [json.loads(x) for x in err.splitlines() if "refusing" in x]
    assert message in line["reason"]


def closed_port_url() -> str:
    """A local URL nothing listens on: the exchange is unreachable."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def refusal(process: subprocess.Popen[str]) -> dict:
    """The one "refusing to start" line of a process that must exit 2 without a traceback."""
    _, err = process.communicate(timeout=90)
    assert process.returncode == 2, err
    assert "Traceback" not in err
    (line,) = [x for x in log_lines(err) if x["msg"] == "refusing to start"]
    return line


@pytest.mark.integration
@pytest.mark.parametrize("mode", ["live", "testnet"])
def test_the_mode_flag_drives_every_start_up_guard(tmp_path: Path, mode: str) -> None:
    """The configuration says paper, the flag says live (or testnet), the exchange is
    unreachable: the start is refused, and the ledger gets no paper cash and no "started"."""
    home = tmp_path / "home"
    process = start(
        home,
        "--mode",
        mode,
        "--i-understand-live-trading",
        "--exchange",
        "binance",
        "--exchange-url",
        closed_port_url(),
        "--no-dagster-report",
        TRADING_API_KEY=SENTINEL_KEY,
        TRADING_API_SECRET=SENTINEL_SECRET,
    )
    assert "binance" in refusal(process)["reason"]
    ledger_file = home / "ledger.sqlite"
    if ledger_file.exists():
        engine = sa.create_engine(f"sqlite:///{ledger_file}")
        with engine.connect() as conn:
            cash = conn.execute(sa.text("SELECT count(*) FROM cash")).scalar()
            started = conn.execute(
                sa.text("SELECT subject FROM audit_log WHERE event = 'started'")
            ).all()
            # A refused start binds the ledger to no mode: paper trading can still use it.
            bound = conn.execute(sa.text("SELECT value FROM ledger_meta")).all()
        engine.dispose()
        assert (cash, started, bound) == (0, [], [])


@pytest.mark.integration
@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("wrong keys", "binance refused the API key"),
        ("unknown exchange", "unknown exchange id 'binanse'"),
        ("YAML syntax error", "trading.yaml:3:1: invalid YAML"),
        ("unwritable TRADING_HOME", "cannot write the executor's files: [Errno 20]"),
    ],
)
def test_start_up_failures_are_one_clear_line_and_exit_2(
    tmp_path: Path, case: str, expected: str
) -> None:
    home = tmp_path / "home"
    exchange = "binanse" if case == "unknown exchange" else "binance"
    env = {"TRADING_API_KEY": SENTINEL_KEY, "TRADING_API_SECRET": SENTINEL_SECRET}
    if case == "wrong keys":
        env["TRADING_API_KEY"] = "SOMEONEELSESKEY0123"
    elif case == "YAML syntax error":
        config = tmp_path / "trading.yaml"
        config.write_text("executor:\n  mode: [paper\n")
        env["TRADING_CONFIG"] = str(config)
    elif case == "unwritable TRADING_HOME":
        (tmp_path / "a-file").write_text("")
        home = tmp_path / "a-file" / "home"
    with FakeBinance(api_key=SENTINEL_KEY, secret=SENTINEL_SECRET) as fake:
        process = start(
            home,
            "--mode",
            "testnet",
            "--exchange",
            exchange,
            "--exchange-url",
            fake.url,
            "--no-dagster-report",
            **env,
        )
        line = refusal(process)
        assert fake.count_requests("POST", "/api/v3/order") == 0
    assert expected in line["reason"]
    assert SENTINEL_SECRET not in json.dumps(line) and "SOMEONEELSESKEY0123" not in json.dumps(line)


@pytest.mark.integration
def test_keys_never_appear_in_logs_ledger_parquet_or_metadata(tmp_path: Path) -> None:
    home = tmp_path / "home"
    key_file = tmp_path / "secret"
    key_file.write_text(SENTINEL_SECRET + "\n")
    ledger = Ledger(f"sqlite:///{home / 'ledger.sqlite'}")
    ledger.add_intents([recent_intent(exchange="binance", notional=100.0)])
    with (
        FakeBinance(
            balances={"USDT": 10_000}, api_key=SENTINEL_KEY, secret=SENTINEL_SECRET
        ) as fake,
        FakeHTTPServer() as dagster,
    ):
        fake.set_order_book("BTCUSDT", bids=[(30_000, 1)], asks=[(30_010, 1)])
        for key in ("execution/fills", "execution/orders"):
            dagster.route("POST", f"/report_asset_materialization/{key}", Reply.json({}))
        process = start(
            home,
            "--mode",
            "testnet",
            "--exchange",
            "binance",
            "--exchange-url",
            fake.url,
            "--tick-seconds",
            "0.2",
            "--log-level",
            "DEBUG",
            TRADING_API_KEY=SENTINEL_KEY,
            TRADING_API_SECRET_FILE=str(key_file),
            TRADING_DAGSTER_URL=dagster.url,
        )
        try:
            wait_for(lambda: ledger.fill_count() >= 1 and len(dagster.requests) >= 2)
        finally:
            out, err = stop(process)
        assert len(fake.orders()) == 1  # it really traded, signed with the sentinel keys
        reports = b"".join(r.body for r in dagster.requests)
    ledger.close()
    assert "DEBUG" in err.upper() and len(err) > 1000  # verbose logs were written
    outputs = {"stdout": out.encode(), "stderr": err.encode(), "dagster reports": reports}
    for path in home.rglob("*"):
        if path.is_file():
            outputs[str(path)] = path.read_bytes()
    assert any(name.endswith(".parquet") for name in outputs)
    assert any("ledger.sqlite" in name for name in outputs)
    for name, content in outputs.items():
        for sentinel in (SENTINEL_KEY, SENTINEL_SECRET):
            assert sentinel.encode() not in content, f"{sentinel[:8]}... leaked into {name}"
