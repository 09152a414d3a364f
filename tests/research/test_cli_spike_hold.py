"""The research commands hold spikes as the live path does: the configured policy
(``market.max_abs_log_return``, ``market.spike_confirm_bars``) and the operator's releases of
``$TRADING_HOME``, on the real ADAUSDT 1h spike of 2025-03-02 (15:00 and 16:00 held at their
close, released by later bars with the default policy)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from trading_pipelines.cli import main

ADA = (
    Path(__file__).resolve().parents[2]
    / ".."
    / "shared"
    / "data"
    / "market"
    / "binance_ADAUSDT_1h.csv"
)
SPIKE = ("2025-03-02 15:00:00", "2025-03-02 16:00:00")


@pytest.fixture
def window(tmp_path: Path) -> Path:
    """A month around the spike, under its replay-layout name (releases match by name)."""
    frame = pd.read_csv(ADA.resolve())
    ts = pd.to_datetime(frame.iloc[:, 0], utc=True, format="mixed").dt.tz_localize(None)
    keep = (ts >= "2025-02-10") & (ts < "2025-03-10")
    out = tmp_path / "data" / "binance_ADAUSDT_1h.csv"
    out.parent.mkdir()
    frame[keep.to_numpy()].to_csv(out, index=False)
    return out


def indicator_times(window: Path, tmp_path: Path) -> set[str]:
    out = tmp_path / "ind.csv"
    assert main(["indicators", "--ohlcv", str(window), "--out", str(out)]) == 0
    written = pd.read_csv(out)
    # every row's time is its own bar's: the close-based SMA matches the file's closes
    bars = pd.read_csv(window).set_index("timestamp")["close"]
    assert written["sma_20"].iloc[19:].notna().all()
    expected = bars.reindex(written["timestamp"]).rolling(20).mean().to_numpy()[19:]
    assert abs(written["sma_20"].to_numpy()[19:] - expected).max() < 1e-9
    stamps = written["timestamp"].astype(str)
    return set(stamps.str.replace("T", " ").str.removesuffix("Z"))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "home"
    root.mkdir()
    monkeypatch.setenv("TRADING_HOME", str(root))
    monkeypatch.delenv("TRADING_CONFIG", raising=False)
    return root


def test_by_default_the_released_spike_stays_in_the_history(window, home, tmp_path) -> None:
    seen = indicator_times(window, tmp_path)
    assert all(t in seen for t in SPIKE)  # released by the later bars: history, no decision


def test_a_configured_wait_longer_than_the_data_leaves_the_spike_out(
    window, home, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the last bars of the file: a spike there is still held when the data ends
    frame = pd.read_csv(window)
    frame.iloc[
        : frame.index[frame.iloc[:, 0].astype(str).str.startswith("2025-03-02T17")][0]
    ].to_csv(window, index=False)
    assert not any(t in indicator_times(window, tmp_path) for t in SPIKE)
    # an operator release of both bars puts them back, as in live
    (home / "operator").mkdir()
    rows = [
        {"exchange": "binance", "symbol": "ADA/USDT", "timeframe": "1h", "ts": t.replace(" ", "T"),
         "released_by": "ops", "released_at": "2025-03-02T16:30:00", "reason": "checked"}
        for t in SPIKE
    ]  # fmt: skip
    (home / "operator" / "data_releases.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows)
    )
    assert all(t in indicator_times(window, tmp_path) for t in SPIKE)


def test_a_looser_configured_threshold_holds_nothing(window, home, tmp_path) -> None:
    (home / "trading.yaml").write_text("market:\n  max_abs_log_return: 0.9\n")
    frame = pd.read_csv(window)
    cut = frame.index[frame.iloc[:, 0].astype(str).str.startswith("2025-03-02T17")][0]
    frame.iloc[:cut].to_csv(window, index=False)
    assert all(t in indicator_times(window, tmp_path) for t in SPIKE)


@pytest.mark.parametrize(
    ("file", "text", "expected"),
    [
        ("trading.yaml", "market:\n  max_abs_log_return: -1\n", "max_abs_log_return"),
        ("trading.yaml", "market:\n  spike_confirm_bars: lots\n", "spike_confirm_bars"),
        ("operator/data_releases.jsonl", "{not json\n", "line 1"),
    ],
)
def test_a_bad_policy_or_release_ledger_is_one_clear_error(
    window, home, tmp_path, capsys, file: str, text: str, expected: str
) -> None:
    (home / file).parent.mkdir(parents=True, exist_ok=True)
    (home / file).write_text(text)
    assert main(["indicators", "--ohlcv", str(window), "--out", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert not (tmp_path / "o.csv").exists()
