"""The spike hold on real candles: what is held, what later bars, a second venue or an
operator release, and hostile inputs."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trading_core.backtest.data import hold_spikes, read_ohlcv_csv
from trading_core.backtest.decisions import may_decide
from trading_core.quality.releases import (
    ReleaseError,
    append_release,
    make_release,
    read_releases,
)
from trading_core.quality.spike_policy import (
    SpikePolicy,
    assess_spikes,
    hold_frame,
)
from trading_core.quality.spike_visibility import spike_visibility


def held_at_close(ts, opens, closes, policy: SpikePolicy) -> list[int]:  # type: ignore[no-untyped-def]
    """Positions of the bars held when they closed (live does not decide on them): those
    ``spike_visibility`` does not put in the history at their own close."""
    visible = spike_visibility(ts, opens, closes, policy, timeframe="1h")
    return [i for i, first in enumerate(visible) if first != i]


NOW = datetime(2026, 12, 1, 12)


@pytest.fixture(scope="module")
def btc(shared_data: Path) -> pd.DataFrame:
    return read_ohlcv_csv(shared_data / "market" / "binance_BTCUSDT_1h.csv").head(500)


def statuses(bars: pd.DataFrame, **kw) -> list[tuple[int, str]]:
    found = assess_spikes(bars["ts"], bars["open"], bars["close"], SpikePolicy(), **kw)
    return [(d.position, d.status) for d in found]


@pytest.mark.parametrize("name", ["BTCUSDT_1h", "XRPUSDT_1h", "ETHUSDT_4h", "ADAUSDT_1d"])
def test_no_real_bar_is_held_and_a_10x_bar_is(shared_data: Path, name: str) -> None:
    bars = read_ohlcv_csv(shared_data / "market" / f"binance_{name}.csv")
    timeframe = name.split("_")[1]
    found = assess_spikes(
        bars["ts"], bars["open"], bars["close"], SpikePolicy(), timeframe=timeframe
    )
    assert not [d for d in found if d.held]
    spiked = bars.copy()
    spiked.loc[300, "close"] *= 10
    assert [(d.position, d.status) for d in assess_spikes(
        spiked["ts"], spiked["open"], spiked["close"], SpikePolicy(), timeframe=timeframe
    ) if d.held] == [(300, "held_reverted")]  # fmt: skip


def test_a_new_level_is_pending_then_released_by_the_next_bars(btc: pd.DataFrame) -> None:
    shifted = btc.copy()
    shifted.loc[200:, ["open", "high", "low", "close"]] *= 2  # a real-looking level shift
    assert statuses(shifted.iloc[:201]) == [(200, "held_pending")]
    # the next bar is as unconfirmed as the first at the new level: measured from bar 199
    assert statuses(shifted.iloc[:202]) == [(200, "held_pending"), (201, "held_pending")]
    assert statuses(shifted.iloc[:203]) == [(200, "released_confirmed")]
    assert statuses(shifted) == [(200, "released_confirmed")]


def test_after_a_held_bar_the_next_is_measured_from_the_last_kept(btc: pd.DataFrame) -> None:
    spiked = btc.copy()
    spiked.loc[100, "close"] *= 10
    spiked.loc[101, "open"] = spiked.loc[100, "close"]  # the next bar opens at the bad print
    assert statuses(spiked) == [(100, "held_reverted")]  # bar 101 is back at the old level


def test_a_second_venue_confirms_or_contradicts(btc: pd.DataFrame) -> None:
    spiked = btc.copy()
    spiked.loc[100, "close"] *= 10
    same = spiked.set_index("ts")["close"]
    # the venue saw the bar, and the way back too
    assert statuses(spiked, other_venue=same) == [(100, "released_venue"), (101, "released_venue")]
    other = btc.set_index("ts")["close"]
    assert statuses(spiked, other_venue=other) == [(100, "held_venue")]


def test_an_operator_release_wins(btc: pd.DataFrame) -> None:
    spiked = btc.copy()
    spiked.loc[100, "close"] *= 10
    at = spiked.loc[100, "ts"].to_pydatetime()
    # once released, the way back is a move of its own, confirmed by the bars after it
    assert statuses(spiked, released={at}) == [
        (100, "released_operator"),
        (101, "released_confirmed"),
    ]
    # the backtest still takes no decision on it: live had it held at its close
    assert at not in set(hold_spikes(spiked)["ts"]) and len(hold_spikes(spiked)) == len(spiked) - 1


def test_a_bar_held_at_its_close_is_no_decision_point_and_history_once_released(
    btc: pd.DataFrame,
) -> None:
    shifted = btc.copy()
    shifted.loc[200:, ["open", "high", "low", "close"]] *= 2  # released by bars 201 and 202
    assert statuses(shifted) == [(200, "released_confirmed")]
    found = held_at_close(shifted["ts"], shifted["open"], shifted["close"], SpikePolicy())
    # bar 201 too: at its close bar 200 was pending, so it was measured from bar 199
    assert found == [200, 201]
    kept = hold_spikes(shifted)  # released: history from bar 202's close, no decision point
    assert len(kept) == len(shifted)
    assert list(kept.index[kept["visible_from"] != kept["ts"]]) == [200, 201]
    assert set(kept.loc[[200, 201], "visible_from"]) == {shifted.loc[202, "ts"]}
    assert list(may_decide(kept)).count(False) == 2
    # three confirming bars: bar 202 is held at its close as well
    three = held_at_close(
        shifted["ts"], shifted["open"], shifted["close"], SpikePolicy(confirm_bars=3)
    )
    assert three == [200, 201, 202]
    # a reverted spike is held at its close and for good; the bar after it is not
    spiked = btc.copy()
    spiked.loc[100, "close"] *= 10
    assert held_at_close(spiked["ts"], spiked["open"], spiked["close"], SpikePolicy()) == [100]


@pytest.mark.parametrize("confirm_bars", [1, 2, 3])
def test_held_at_close_agrees_with_each_prefix_judged_alone(
    btc: pd.DataFrame, confirm_bars: int
) -> None:
    """The shortcut (only bars near a candidate are judged again, from a bar both keep)
    equals judging every prefix: a spike, a level shift, a spike right after the shift, a
    run of spikes close together and a shift reverted after two bars."""
    bars = btc.head(160).copy()
    bars.loc[30, "close"] *= 10
    bars.loc[60:, ["open", "high", "low", "close"]] *= 3
    bars.loc[63, "close"] /= 5
    bars.loc[[90, 92, 93, 96], "close"] *= 4
    bars.loc[120:121, ["open", "high", "low", "close"]] *= 2
    policy = SpikePolicy(confirm_bars=confirm_bars)
    brute = [
        i
        for i in range(1, len(bars))
        if any(
            d.position == i and d.held
            for d in assess_spikes(
                bars["ts"][: i + 1], bars["open"][: i + 1], bars["close"][: i + 1], policy
            )
        )
    ]
    found = held_at_close(bars["ts"], bars["open"], bars["close"], policy)
    assert found == brute and brute


def test_the_first_bar_keeps_the_whole_series_verdict(shared_data: Path) -> None:
    """XRPUSDT 1h opens at 0.50 and closes its first bar at 0.92: measured from its own open
    it is a candidate, confirmed by the next bars; it and the bars after it are kept."""
    bars = read_ohlcv_csv(shared_data / "market" / "binance_XRPUSDT_1h.csv").head(50)
    assert statuses(bars) == [(0, "released_confirmed")]
    assert held_at_close(bars["ts"], bars["open"], bars["close"], SpikePolicy()) == []
    assert len(hold_spikes(bars)) == 50


def test_hold_frame_uses_another_exchange_as_the_second_venue(btc: pd.DataFrame) -> None:
    frame = btc.assign(exchange="binance", symbol="BTC/USDT", timeframe="1h")
    spiked = frame.copy()
    spiked.loc[100, "close"] *= 10
    kept, held, _ = hold_frame(spiked, SpikePolicy())
    assert list(held["ts"]) == [frame.loc[100, "ts"]] and len(kept) == len(frame) - 1
    both = pd.concat([spiked, frame.assign(exchange="kraken")], ignore_index=True)
    kept, held, found = hold_frame(both, SpikePolicy())
    assert [d.status for d in found] == ["held_venue"] and len(held) == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_abs_log_move", math.nan),
        ("max_abs_log_move", -0.1),
        ("max_abs_log_move", "0.2"),
        ("max_venue_log_diff", math.inf),
        ("confirm_bars", 0),
        ("confirm_bars", 2.5),
        ("confirm_bars", True),
        ("confirm_bars", 101),
        ("confirm_bars", -1),
    ],
)
def test_bad_policies_name_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        SpikePolicy(**{field: value})  # type: ignore[arg-type]


def test_bad_series_are_refused_not_guessed(btc: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="closes must be finite"):
        assess_spikes(
            btc["ts"], btc["open"], btc["close"].where(btc.index != 5, np.nan), SpikePolicy()
        )
    with pytest.raises(ValueError, match="closes must be finite"):
        assess_spikes(btc["ts"], btc["open"], -btc["close"], SpikePolicy())
    with pytest.raises(ValueError, match="strictly increasing"):
        twice = pd.concat([btc.iloc[:3], btc.iloc[2:4]])
        assess_spikes(twice["ts"], twice["open"], twice["close"], SpikePolicy())
    with pytest.raises(ValueError, match="same length"):
        assess_spikes(btc["ts"], btc["open"][:3], btc["close"], SpikePolicy())


def test_the_release_ledger_round_trips_and_names_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "operator" / "data_releases.jsonl"
    release = make_release("binance", "BTC/USDT", "1h", "2023-06-01T09:00:00Z", "ops", "ok", NOW)
    append_release(path, release)
    append_release(path, release)  # an audit trail: a second release is a second row
    assert [r.key for r in read_releases(path)] == [release.key] * 2
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    with path.open("a") as out:
        out.write('{"exchange": "binance"}\n')
    with pytest.raises(ReleaseError, match="line 3: missing or non-text fields"):
        read_releases(path)
    with pytest.raises(ReleaseError, match="released_by"):
        make_release("binance", "BTC/USDT", "1h", "2023-06-01T09:00:00", " ", "ok", NOW)
