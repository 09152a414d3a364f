"""The tolerant candle read in chunks equals reading every line alone, on real lines
corrupted in every way the line reader knows: a chunk read columnar never hides a bad line,
and a bad line costs only its own chunk."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trading_core.market.candle_columnar import read_columnar
from trading_core.market.candle_file import (
    CHUNK_LINES,
    MIN_CHUNK_LINES,
    CandleFileError,
    read_candle_lines,
)

HEADER = "timestamp,open,high,low,close,volume"
WHOLE = 10**9  # one chunk; with columnar=False: every line alone, the reference


HALVED_TO = 40  # the 600 test lines are one run, halved around bad lines down to 40


def test_the_default_chunks_hold_the_test_file_and_halving_stops_above_a_line() -> None:
    assert CHUNK_LINES > 600 and MIN_CHUNK_LINES >= 64


@pytest.fixture(scope="module")
def real(shared_data: Path) -> list[str]:
    lines = (shared_data / "market" / "binance_BTCUSDT_1h.csv").read_text().splitlines()
    assert lines[0] == HEADER
    return lines[1:601]


def epoch_ms(line: str) -> str:
    stamp, rest = line.split(",", 1)
    return f"{int(pd.Timestamp(stamp).timestamp() * 1000)},{rest}"


def corrupt(lines: list[str], at: int, how: str) -> list[str]:
    out = list(lines)
    stamp, o, h, low, c, v = out[at].split(",")
    out[at] = {
        "extra_field": f"{out[at]},1",
        "missing_field": ",".join([stamp, o, h, low, c]),
        "bad_ts": f"2023-13-45T00:00:00Z,{o},{h},{low},{c},{v}",
        "epoch_among_iso": f"{epoch_ms(out[at])}",
        "nan_price": f"{stamp},nan,{h},{low},{c},{v}",
        "inf_volume": f"{stamp},{o},{h},{low},{c},inf",
        "null_text": f"{stamp},{o},NULL,{low},{c},{v}",
        "quoted": f'"{stamp}",{o},{h},{low},{c},{v}',
        "empty_cell": f"{stamp},{o},,{low},{c},{v}",
        "two_dots": f"{stamp},{o},{h},{low},1.2.3,{v}",
        "spaces": f" {stamp} , {o} ,{h},{low},{c},{v}",
        "blank": "   ",
        "crlf": f"{out[at]}\r",
        "negative": f"{stamp},-{o},{h},{low},{c},-{v}",
        "huge": f"{stamp},1e308,1e308,{low},{c},{v}",
    }[how]
    return out


CASES = [
    "extra_field", "missing_field", "bad_ts", "epoch_among_iso", "nan_price", "inf_volume",
    "null_text", "quoted", "empty_cell", "two_dots", "spaces", "blank", "crlf", "negative",
    "huge",
]  # fmt: skip


def write(tmp_path: Path, lines: list[str], end: str = "\n", header: str = HEADER) -> Path:
    path = tmp_path / "binance_BTCUSDT_1h.csv"
    path.write_text("\n".join([header, *lines]) + end)
    return path


def same(path: Path, chunk_lines: int, unit: str | None = None) -> pd.DataFrame:
    """The read in chunks of ``chunk_lines`` and with the default chunks (one run of the
    whole file here, halved around bad lines) equal every line read alone."""
    whole = read_candle_lines(path, unit, chunk_lines=WHOLE, columnar=False)
    for size in (chunk_lines, CHUNK_LINES):
        chunked = read_candle_lines(path, unit, chunk_lines=size, min_lines=HALVED_TO)
        pd.testing.assert_frame_equal(chunked.frame, whole.frame)
        pd.testing.assert_frame_equal(chunked.rejected, whole.rejected)
        assert chunked.ts_unit == whole.ts_unit
    return chunked.rejected


@pytest.mark.parametrize("how", CASES)
def test_each_corruption_is_rejected_the_same_in_chunks(tmp_path, real, how) -> None:
    lines = corrupt(corrupt(real, 250, how), 599, how)  # in a middle chunk and in the last
    rejected = same(write(tmp_path, lines), chunk_lines=64)
    if how not in ("spaces", "blank", "crlf", "negative", "huge", "empty_cell"):
        assert list(rejected["line"]) == [252, 601]  # line 1 is the header


def test_a_cut_last_line_and_leading_bad_lines_are_located(tmp_path, real) -> None:
    lines = corrupt(corrupt(real, 0, "bad_ts"), 1, "extra_field")
    path = write(tmp_path, [*lines[:-1], lines[-1][:-3]], end="")
    rejected = same(path, chunk_lines=50)
    assert list(rejected["line"]) == [2, 3, 601]
    assert rejected["reason"].iloc[-1].startswith("unterminated_last_line")
    first_good = pd.Timestamp(real[2][:19])
    assert rejected["located"].iloc[0] == first_good  # before any good line: the next one


def test_a_minority_unit_is_rejected_the_same_in_chunks(tmp_path, real) -> None:
    # most lines in epoch milliseconds, a run of ISO lines spanning chunks, one epoch second
    lines = [epoch_ms(line) for line in real]
    lines[100:180] = real[100:180]
    stamp, rest = lines[400].split(",", 1)
    lines[400] = f"{int(stamp) // 1000},{rest}"
    rejected = same(write(tmp_path, lines), chunk_lines=32)
    assert len(rejected) == 81 and rejected["reason"].str.startswith("ts_unit_mismatch").all()
    kept = {"ms": 519, "s": 1, "iso": 80}
    for declared, count in kept.items():  # declared: every other unit is rejected
        rejected = same(write(tmp_path, lines), chunk_lines=32, unit=declared)
        assert len(rejected) == 600 - count


def test_a_file_of_bad_lines_only_is_refused_and_headers_are_checked(tmp_path, real) -> None:
    bad = [corrupt(real, i, "two_dots")[i] for i in range(40)]
    with pytest.raises(CandleFileError, match="none of its 40 lines"):
        read_candle_lines(write(tmp_path, bad), chunk_lines=8)
    with pytest.raises(CandleFileError, match="missing columns"):
        read_candle_lines(write(tmp_path, real, header="ts,open,high,low,close"))
    extra = write(tmp_path, [f"{line},x" for line in real], header=f"{HEADER},note")
    assert len(same(extra, chunk_lines=100)) == 0


def test_the_columnar_chunk_read_refuses_what_the_line_reader_rejects(real) -> None:
    assert read_columnar(HEADER, real[:10]) is not None
    for how in ("extra_field", "bad_ts", "nan_price", "null_text", "quoted", "two_dots"):
        assert read_columnar(HEADER, corrupt(real[:10], 5, how)) is None, how
    assert read_columnar(HEADER, [epoch_ms(line) for line in real[:10]])[1] == "ms"
    assert read_columnar(HEADER, [epoch_ms(line) for line in real[:10]], "s") is None
    assert read_columnar(HEADER, []) is None


def test_one_bad_line_costs_its_chunk_not_the_file(tmp_path, shared_data: Path) -> None:
    lines = (shared_data / "market" / "binance_BTCUSDT_1h.csv").read_text().splitlines()[1:]
    path = write(tmp_path, corrupt(lines, len(lines) // 2, "two_dots"))
    started = time.process_time()
    chunked = read_candle_lines(path)
    chunked_cpu = time.process_time() - started
    started = time.process_time()
    whole = read_candle_lines(path, chunk_lines=WHOLE, columnar=False)
    whole_cpu = time.process_time() - started
    assert len(chunked.frame) == len(lines) - 1 and list(chunked.rejected["line"]) == [
        len(lines) // 2 + 2
    ]
    pd.testing.assert_frame_equal(chunked.frame, whole.frame)
    assert np.isfinite(chunked.frame[["open", "close"]].to_numpy()).all()
    assert chunked_cpu < whole_cpu / 2, (chunked_cpu, whole_cpu)


def test_crlf_files_and_blank_lines_read_the_same_in_chunks(tmp_path, real) -> None:
    lines = [*real[:300], "", "\t", *corrupt(real, 400, "two_dots")[300:]]
    path = tmp_path / "binance_BTCUSDT_1h.csv"
    path.write_bytes(("\r\n".join([HEADER, *lines]) + "\r\n").encode())
    rejected = same(path, chunk_lines=64)
    assert list(rejected["line"]) == [404]  # the two blank lines count, hold no candle
    assert len(read_candle_lines(path).frame) == 599
