"""The pure parts: the token bucket, the Host check, the token's loading, the cockpit's
configuration and its environment overrides, the equity math and the SVG chart."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from trading_core.config import ConfigError, load_config
from trading_core.config_cockpit import CockpitConfig
from trading_pipelines.cockpit.charts import line_chart
from trading_pipelines.cockpit.equity import EquityCurve, FillFlow, downsample, drawdowns
from trading_pipelines.cockpit.security import (
    RateLimiter,
    SecretError,
    WriteRefused,
    host_allowed,
    load_write_token,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_bucket_allows_a_burst_then_refills_at_the_rate_per_client() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2.0, 3, clock=clock)
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("a") == pytest.approx(0.5)
    assert limiter.acquire("b") == 0.0  # another client has its own bucket
    clock.now += 0.5
    assert limiter.acquire("a") == 0.0
    clock.now += 100
    assert [limiter.acquire("a") for _ in range(4)][-1] > 0  # refills to the burst, no more


def test_the_bucket_forgets_clients_beyond_its_cap() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1.0, 1, clock=clock, max_clients=10)
    for i in range(50):
        limiter.acquire(f"c{i}")
        clock.now += 0.01
    assert len(limiter._buckets) <= 11


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (float("nan"), 1), (1, 0)])
def test_the_bucket_refuses_nonsense(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="rate must be"):
        RateLimiter(rate, burst)


@pytest.mark.parametrize(
    ("header", "ok"),
    [("127.0.0.1", True), ("127.0.0.1:8088", True), ("LocalHost:80", True),
     ("127.0.0.2", False), ("evil.com", False), ("localhost.evil.com", False), (None, False),
     ("", False), ("127.0.0.1:8088:1", False), ("[::1]:8088", False)],
)  # fmt: skip
def test_the_host_check(header: str | None, ok: bool) -> None:
    assert host_allowed(header, ["127.0.0.1", "localhost"]) is ok


def test_ipv6_loopback_can_be_allowed() -> None:
    assert host_allowed("[::1]:8088", ["::1"]) and host_allowed("[::1]", ["[::1]"])


def test_the_token_comes_from_the_environment_or_its_file(tmp_path: Path) -> None:
    assert not load_write_token({}).configured
    assert load_write_token({"TRADING_COCKPIT_TOKEN": "abcdefgh12"}).value == "abcdefgh12"
    file = tmp_path / "token"
    file.write_text("from-a-file-123\n")
    token = load_write_token({"TRADING_COCKPIT_TOKEN_FILE": str(file)})
    assert token.value == "from-a-file-123" and "from-a-file" not in repr(token)
    with pytest.raises(WriteRefused, match="wrong token"):
        token.check(None, "nope")
    token.check("Bearer from-a-file-123", None)


@pytest.mark.parametrize(
    ("env", "words"),
    [({"TRADING_COCKPIT_TOKEN": "short"}, "8 to 512"),
     ({"TRADING_COCKPIT_TOKEN": "has a space in it"}, "whitespace"),
     ({"TRADING_COCKPIT_TOKEN_FILE": "/nonexistent/token"}, "not a file"),
     ({"TRADING_COCKPIT_TOKEN": "abcdefgh12", "TRADING_COCKPIT_TOKEN_FILE": "/x"}, "not both")],
)  # fmt: skip
def test_a_malformed_token_is_an_error_naming_the_variable_not_the_value(
    env: dict[str, str], words: str
) -> None:
    with pytest.raises(SecretError, match=words) as err:
        load_write_token(env)
    assert "TRADING_COCKPIT_TOKEN" in str(err.value) and "has a space" not in str(err.value)


def test_the_defaults_bind_to_loopback_port_8088() -> None:
    cfg = CockpitConfig()
    assert (cfg.host, cfg.port, cfg.allowed_hosts) == (
        "127.0.0.1",
        8088,
        ["127.0.0.1", "localhost"],
    )


@pytest.mark.parametrize(
    ("values", "words"),
    [({"host": "0.0.0.0"}, "allow_remote_bind"), ({"host": "192.168.1.5"}, "not loopback"),
     ({"host": "bad host!"}, "not a host name"), ({"port": 0}, "port"), ({"port": 70000}, "port"),
     ({"port": "eighty"}, "port"), ({"rate_limit_per_second": float("nan")}, "finite"),
     ({"rate_limit_per_second": -1}, "greater than 0"), ({"rate_limit_burst": 0}, "burst"),
     ({"allowed_hosts": []}, "allowed_hosts"), ({"allowed_hosts": ["a:80"]}, "not host names"),
     ({"allowed_hosts": ["x", "x"]}, "duplicate"), ({"hots": "x"}, "hots")],
)  # fmt: skip
def test_bad_cockpit_settings_are_refused_naming_the_field(values: dict, words: str) -> None:
    with pytest.raises(ValidationError) as err:
        CockpitConfig.model_validate(values)
    assert words in str(err.value)


def test_a_remote_bind_needs_the_explicit_opt_in() -> None:
    cfg = CockpitConfig(host="0.0.0.0", allow_remote_bind=True)
    assert cfg.host == "0.0.0.0"


def test_the_environment_overrides_host_and_port(trading_home: Path) -> None:
    cfg = load_config(environ={"TRADING_HOME": str(trading_home), "TRADING_COCKPIT_PORT": "9191",
                               "TRADING_COCKPIT_HOST": "localhost"})  # fmt: skip
    assert (cfg.cockpit.host, cfg.cockpit.port) == ("localhost", 9191)
    for var, value, words in [("TRADING_COCKPIT_PORT", "x", "cannot parse"),
                              ("TRADING_COCKPIT_PORT", " ", "set but empty"),
                              ("TRADING_COCKPIT_HOST", "10.0.0.1", "cockpit.host")]:  # fmt: skip
        with pytest.raises(ConfigError, match=words):
            load_config(environ={"TRADING_HOME": str(trading_home), var: value})


T = datetime(2026, 1, 1)


def flow(i: int, side: str, qty: float, price: float, fee: float, ccy: str = "USDT") -> FillFlow:
    return FillFlow(i, T + timedelta(minutes=i), "BTC/USDT", side, qty, price, fee, ccy)


def test_equity_after_each_fill_by_hand() -> None:
    curve = EquityCurve()
    # buy 2 @ 100 (fee 0.2 USDT), then 1 @ 110 (fee 0.001 BTC), sell 3 @ 90 (fee 0.27 USDT)
    curve.update([flow(1, "buy", 2, 100, 0.2), flow(2, "buy", 1, 110, 0.001, "BTC")])
    curve.update([flow(2, "buy", 1, 110, 0.001, "BTC"), flow(3, "sell", 2.999, 90, 0.27)])
    equity = [v for _, v in curve.points(cash_now=1000 - 200.2 - 110 + 269.91 - 0.27)]
    # start 1000; after 1: 799.8 cash + 2*100; after 2: 689.8 + 2.999*110; after 3: all cash
    assert equity == pytest.approx([999.8, 689.8 + 2.999 * 110, 1000 - 200.2 - 110 + 269.64])
    assert curve.last_fill_id == 3 and len(curve.steps) == 3  # fill 2 counted once


def test_drawdowns_and_downsampling() -> None:
    assert drawdowns([100, 120, 90, 130]) == pytest.approx([0, 0, 0.25, 0])
    assert drawdowns([]) == []
    points = list(range(1000))
    assert downsample(points, 5) == [0, 250, 500, 749, 999]
    assert downsample([1, 2], 400) == [1, 2]
    with pytest.raises(ValueError, match="max_points"):
        downsample(points, 1)


def test_the_chart_draws_every_point_and_escapes_its_title() -> None:
    svg = line_chart([(T, 1.0), (T + timedelta(hours=1), 3.0)], title="<b>eq</b>", chart_id="c")
    assert svg.startswith('<svg id="c"') and svg.count(",") >= 2 and "<b>" not in svg
    flat = line_chart([(T, 5.0)], title="flat", chart_id="f")
    assert "polyline" in flat
    assert "no data yet" in line_chart([], title="Equity", chart_id="e")
