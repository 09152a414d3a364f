"""``trading sweep`` starts light: the packages on its path import their names lazily, the
bars' CSV is read once, and the shortcuts taken for speed give exactly what they replace."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trading_core.backtest as backtest_package
import trading_core.quality as quality_package
from trading_core.backtest.data import DataError, check_bars, read_csv_table

# Modules the one-scenario sweep does not need (the engine, the other research tools, the
# Great Expectations suites, Dagster, plotting, optimisation; numba with scipy comes only
# when the compiled module is stale): importing one costs every sweep its time.
NOT_ON_THE_SWEEP_PATH = (
    "trading_core.backtest.engine",
    "trading_core.backtest.walk_forward",
    "trading_core.backtest.monte_carlo",
    "trading_core.backtest.multi_scope",
    "trading_core.backtest.optimise",
    "trading_core.quality.ohlcv",
    "trading_core.quality.order_book",
    "great_expectations",
    "dagster",
    "matplotlib",
    "optuna",
)


def _imported_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_one_scenario_sweep_imports_nothing_it_does_not_use(
    shared_data: Path, tmp_path: Path
) -> None:
    params = tmp_path / "one.csv"
    params.write_text("fast,slow,signal\n12,26,9\n")
    out = tmp_path / "r.csv"
    argv = [
        "sweep", "--ohlcv", str(shared_data / "market" / "binance_XRPUSDT_1d.csv"),
        "--strategy", "macd", "--params-file", str(params), "--fee", "0.001",
        "--fill", "close", "--pbo-blocks", "0", "--out", str(out),
    ]  # fmt: skip
    modules = _imported_after(f"from trading_pipelines.cli import main\nassert main({argv!r}) == 0")
    assert out.is_file() and len(pd.read_csv(out)) == 1
    assert "trading_core.backtest.sweep_report" in modules  # the probe ran the sweep
    loaded = sorted(
        m
        for m in modules
        for heavy in NOT_ON_THE_SWEEP_PATH
        if m == heavy or m.startswith(heavy + ".")
    )
    assert loaded == []


def test_the_parser_of_every_command_imports_no_heavy_module() -> None:
    modules = _imported_after(
        "from trading_pipelines.cli import _parser\n_parser(None).format_help()"
    )
    heavy = {"pandas", "numpy", "pydantic", "numba", "dagster", "fastapi", "uvicorn"}
    assert sorted(heavy & {m.split(".")[0] for m in modules}) == []
    assert "trading_core.config" not in modules


def test_importing_one_backtest_module_leaves_the_rest_unimported() -> None:
    modules = _imported_after("import trading_core.backtest.config")
    assert "trading_core.backtest.engine" not in modules
    assert "trading_core.backtest.sweep" not in modules
    assert "trading_core.quality.ohlcv" not in _imported_after(
        "import trading_core.quality.spike_visibility, trading_core.quality.releases"
    )


@pytest.mark.parametrize("package", [backtest_package, quality_package])
def test_every_public_name_is_its_modules_object(package: types.ModuleType) -> None:
    assert package.__all__ and sorted(package.__all__) == sorted(package._MODULE_OF)
    for name in package.__all__:
        value = getattr(package, name)
        module = sys.modules.get(f"{package.__name__}.{package._MODULE_OF[name]}")
        assert module is not None and getattr(module, name) is value, name
        assert name in dir(package)
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        package.not_a_name  # noqa: B018


def test_a_function_named_like_its_module_stays_the_function() -> None:
    # as when the package imported them eagerly: the attribute is the function, even once
    # the import system has bound the submodule of the same name
    code = (
        "import trading_core.backtest.walk_forward, trading_core.backtest.monte_carlo\n"
        "import trading_core.backtest.multi_scope\n"
        "from trading_core.backtest import walk_forward, monte_carlo, multi_scope\n"
        "import types\n"
        "assert all(isinstance(f, types.FunctionType) for f in "
        "(walk_forward, monte_carlo, multi_scope)), (walk_forward, monte_carlo, multi_scope)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    from trading_core.backtest import walk_forward

    assert isinstance(walk_forward, types.FunctionType)
    assert sys.modules["trading_core.backtest.walk_forward"].walk_forward is walk_forward


def _as_text_read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"timestamp": str, "ts": str})


CASES = {
    "iso": "timestamp,open,high,low,close,volume\n2024-01-01T00:00:00Z,1,2,0.5,1.5,10\n"
    "2024-01-01T01:00:00Z,1.5,2,1,1.2,11\n",
    "epoch numbers": "timestamp,open,high,low,close,volume\n1704067200000,1,1,1,1,1\n"
    "1704070800000,1,1,1,1,1\n",
    "mixed, blank, NA, spaces, quotes": "timestamp,open,high,low,close,volume\n"
    "2024-01-01T00:00:00Z,1,1,1,1,1\n,1,1,1,1,1\nNA,1,1,1,1,1\n 2024-01-01T03:00:00Z ,1,1,1,1,1\n"
    '"2024-01-01T04:00:00Z",1,1,1,1,1\n1704085200,1,1,1,1,1\n',
    "every time empty": "timestamp,open,high,low,close,volume\n,1,1,1,1,1\n,2,2,2,2,2\n",
    "booleans": "timestamp,open,high,low,close,volume\nTrue,1,1,1,1,1\nFalse,1,1,1,1,1\n",
    "ts column": "ts,open,high,low,close,volume\n2024-01-01 00:00:00,1,1,1,1,1\n",
    "text prices": "timestamp,open,high,low,close,volume\n2024-01-01T00:00:00Z,x,1,1,1,1\n",
    "header only": "timestamp,open,high,low,close,volume\n",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_csv_table_equals_the_read_naming_time_as_text(tmp_path: Path, name: str) -> None:
    path = tmp_path / "bars.csv"
    path.write_text(CASES[name])
    got, want = read_csv_table(path), _as_text_read(path)
    pd.testing.assert_frame_equal(got, want)
    assert list(got.dtypes) == list(want.dtypes)


def test_csv_table_of_mixed_chunks_is_text_without_a_warning(
    tmp_path: Path, recwarn: pytest.WarningsRecorder
) -> None:
    # pandas infers types per chunk: numbers first, ISO text later give a mixed column
    rows = [f"{1_700_000_000 + k * 3600},1,1,1,1,1" for k in range(150_000)]
    rows += [f"2030-01-01T00:00:{k % 60:02d}Z,1,1,1,1,1" for k in range(150_000)]
    path = tmp_path / "mixed.csv"
    path.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    got = read_csv_table(path)
    pd.testing.assert_frame_equal(got, _as_text_read(path))
    assert [w for w in recwarn if issubclass(w.category, pd.errors.DtypeWarning)] == []


def test_csv_table_of_the_real_series_equals_the_text_read(shared_data: Path) -> None:
    for path in sorted((shared_data / "market").glob("binance_*USDT_*.csv")):
        pd.testing.assert_frame_equal(read_csv_table(path), _as_text_read(path), obj=path.name)


@pytest.mark.parametrize(
    "content",
    [None, b"", b"timestamp,open\n1,2\n1,2,3,4\n", b"timestamp,open\n\xff\xfe,1\n"],
    ids=["missing", "empty", "ragged", "not utf-8"],
)
def test_csv_table_errors_name_the_file_and_the_header(
    tmp_path: Path, content: bytes | None
) -> None:
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match="cannot read") as err:
        read_csv_table(path)
    assert str(path) in str(err.value) and "timestamp,open,high,low,close,volume" in str(err.value)


def _bars(ts: object) -> pd.DataFrame:
    frame = pd.DataFrame({"ts": ts})
    return frame.assign(open=1.0, high=1.0, low=1.0, close=1.0)


@pytest.mark.parametrize(
    ("ts", "ok"),
    [
        (pd.date_range("2024-01-01", periods=6, freq="h"), True),
        (pd.date_range("2024-01-01", periods=6, freq="h", tz="UTC"), True),
        (pd.DatetimeIndex(["2024-01-01 00:00", "2024-01-01 01:00", "2024-01-01 01:00"]), False),
        (pd.DatetimeIndex(["2024-01-01 01:00", "2024-01-01 00:00"]), False),
        (pd.DatetimeIndex(["2024-01-01 00:00", None, "2024-01-01 02:00"]), False),
        (pd.DatetimeIndex(["2024-01-01 00:00"]), True),
        (pd.DatetimeIndex([]), True),
        ([1.0, 2.0, float("nan")], False),
        ([1.0, 1.0], False),
    ],
)
def test_check_bars_refuses_repeats_disorder_and_missing_times(ts: object, ok: bool) -> None:
    bars = _bars(ts)
    if ok:
        assert check_bars(bars).equals(bars.reset_index(drop=True))
    else:
        with pytest.raises(DataError, match="strictly increasing"):
            check_bars(bars)


def test_check_bars_agrees_with_a_hash_of_every_time_on_random_series() -> None:
    rng = np.random.default_rng(7)
    for _ in range(200):
        steps = rng.integers(0, 3, size=int(rng.integers(1, 40)))
        ts = pd.Series(pd.Timestamp("2024-01-01") + pd.to_timedelta(np.cumsum(steps), "h"))
        strictly = bool(ts.is_monotonic_increasing and not ts.duplicated().any())
        try:
            check_bars(_bars(ts))
            accepted = True
        except DataError:
            accepted = False
        assert accepted == strictly
