"""When a held bar enters the live history (``spike_visibility``), checked against judging
every prefix of real candles alone, with and without operator releases; hostile inputs."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trading_core.backtest.data import read_ohlcv_csv
from trading_core.quality.releases import make_release, release_times
from trading_core.quality.spike_policy import SpikePolicy, assess_spikes
from trading_core.quality.spike_visibility import NEVER, spike_visibility

HOUR = timedelta(hours=1)


@pytest.fixture(scope="module")
def btc(shared_data: Path) -> pd.DataFrame:
    return read_ohlcv_csv(shared_data / "market" / "binance_BTCUSDT_1h.csv").head(160)


def corrupted(btc: pd.DataFrame) -> pd.DataFrame:
    """A spike, a level shift, a spike right after it, a run of spikes close together and a
    shift reverted after two bars."""
    bars = btc.copy()
    bars.loc[30, "close"] *= 10
    bars.loc[60:, ["open", "high", "low", "close"]] *= 3
    bars.loc[63, "close"] /= 5
    bars.loc[[90, 92, 93, 96], "close"] *= 4
    bars.loc[120:121, ["open", "high", "low", "close"]] *= 2
    return bars


def brute(bars: pd.DataFrame, policy: SpikePolicy, released: dict[datetime, datetime]) -> list:
    """Every close judged on the bars up to it, with the releases made by then."""
    ts = list(bars["ts"])
    held_at = []
    for t in range(len(bars)):
        made = [b for b, at in released.items() if b <= ts[t] and ts[t] + HOUR >= at]
        found = assess_spikes(
            bars["ts"][: t + 1], bars["open"][: t + 1], bars["close"][: t + 1], policy,
            timeframe="1h", released=made,
        )  # fmt: skip
        held_at.append({d.position for d in found if d.held})
    out = []
    for x in range(len(bars)):
        out.append(next((t for t in range(x, len(bars)) if x not in held_at[t]), NEVER))
    return out


@pytest.mark.parametrize("confirm_bars", [1, 2, 3])
@pytest.mark.parametrize("releases", ["none", "late", "at_close", "after_data"])
def test_visibility_equals_judging_every_close_alone(
    btc: pd.DataFrame, confirm_bars: int, releases: str
) -> None:
    bars = corrupted(btc)
    ts = list(bars["ts"])
    released = {
        "none": {},
        # the 10x spike released five bars later, a cluster spike two bars later
        "late": {ts[30]: ts[35] + HOUR, ts[92]: ts[94] + HOUR},
        # the level shift released at its own close: it decides, and the next bars with it
        "at_close": {ts[60]: ts[60] + HOUR, ts[120]: ts[120] + HOUR + timedelta(minutes=5)},
        "after_data": {ts[30]: ts[-1] + 2 * HOUR},
    }[releases]
    policy = SpikePolicy(confirm_bars=confirm_bars)
    got = spike_visibility(
        bars["ts"], bars["open"], bars["close"], policy, timeframe="1h", released=released
    )
    expected = brute(bars, policy, released)
    assert list(got) == expected
    assert (got != np.arange(len(bars))).sum() >= 5  # the case holds bars at all
    if releases == "late":
        assert got[30] == 35  # from the close at or after released_at
    if releases == "after_data":
        assert got[30] == NEVER


def test_a_clean_file_is_visible_at_every_close(shared_data: Path) -> None:
    bars = read_ohlcv_csv(shared_data / "market" / "binance_ETHUSDT_1h.csv")
    got = spike_visibility(bars["ts"], bars["open"], bars["close"], SpikePolicy(), timeframe="1h")
    assert (got == np.arange(len(bars))).all()


def test_hostile_release_inputs_name_the_problem(btc: pd.DataFrame) -> None:
    bars = corrupted(btc)
    with pytest.raises(ValueError, match="timeframe"):
        spike_visibility(
            bars["ts"], bars["open"], bars["close"], SpikePolicy(),
            released={bars["ts"][30]: bars["ts"][31]},
        )  # fmt: skip
    # a release of a bar the data lacks changes nothing
    away = {datetime(1999, 1, 1): datetime(1999, 1, 2)}
    alone = spike_visibility(bars["ts"], bars["open"], bars["close"], SpikePolicy(), timeframe="1h")
    with_away = spike_visibility(
        bars["ts"], bars["open"], bars["close"], SpikePolicy(), timeframe="1h", released=away
    )
    assert list(alone) == list(with_away)
    with pytest.raises(ValueError, match="strictly increasing"):
        spike_visibility(bars["ts"][::-1], bars["open"], bars["close"], SpikePolicy())


def test_release_times_keep_the_first_release_of_each_bar_of_the_series() -> None:
    first = make_release(
        "binance",
        "BTC/USDT",
        "1h",
        "2023-06-01T09:00",
        "ops",
        "real move",
        datetime(2023, 6, 1, 12),
    )
    again = make_release(
        "binance", "BTC/USDT", "1h", "2023-06-01T09:00", "ops", "again", datetime(2023, 6, 1, 15)
    )
    other = make_release(
        "binance", "ETH/USDT", "1h", "2023-06-01T09:00", "ops", "eth", datetime(2023, 6, 1, 10)
    )
    times = release_times([again, first, other], "binance", "BTC/USDT", "1h")
    assert times == {datetime(2023, 6, 1, 9): datetime(2023, 6, 1, 12)}


def test_releases_for_a_file_outside_the_replay_layout_are_named_not_dropped_silently(
    tmp_path: Path, shared_data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lines = (shared_data / "market" / "binance_ADAUSDT_1h.csv").read_text().splitlines()
    custom = tmp_path / "my ada.csv"
    custom.write_text("\n".join([lines[0], *lines[1:200]]) + "\n")
    release = make_release(
        "binance", "ADA/USDT", "1h", lines[100][:19], "ops", "why", datetime(2026, 1, 1)
    )
    bars = read_ohlcv_csv(custom, releases=[release])
    assert len(bars) == 199
    assert "not a replay-layout name; operator releases not applied" in caplog.text
