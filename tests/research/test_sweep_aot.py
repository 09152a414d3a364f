"""The ahead-of-time compiled kernels (``trading_core.aot``) equal the numba JIT and the
reference backtester, are used only when fresh, and spare every command numba.

The module comes from ``make prepare`` (``<venv>/trading-aot``); when it is missing or stale
the session builds it into a temporary directory (~20-40 s). The tests skip, saying why,
only when it cannot be built at all (no numba.pycc or no C compiler) - and never in CI
(``CI`` set), where ``make prepare`` runs first and a skip is a failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from tests.trading_core.backtest.test_sweep_rules import (
    CONFIGS,
    GRIDS,
    _params,
    assert_row_equals,
)
from trading_core import aot
from trading_core.backtest import BacktestConfig, read_ohlcv_csv, run_backtest
from trading_core.backtest import sweep_aot as drivers
from trading_core.backtest.sweep import macd_grid, sweep_blocks, sweep_strategy
from trading_core.strategies import get_strategy

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    module = aot.load()
    if module is not None:
        return module
    from trading_core.backtest.sweep_aot_build import build

    where = tmp_path_factory.mktemp("aot")
    try:
        build(where)
    except RuntimeError as err:
        reason = f"THE AOT KERNELS CANNOT BE BUILT HERE ({err}); their tests did not run"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    module = aot.load(where)
    assert module is not None, aot.status(where)
    return module


@pytest.fixture(scope="module")
def series(shared_data: Path) -> dict[str, pd.DataFrame]:
    market = shared_data / "market"
    return {
        "xrp_4h": read_ohlcv_csv(market / "binance_XRPUSDT_4h.csv").iloc[-2000:],
        "eth_1d": read_ohlcv_csv(market / "binance_ETHUSDT_1d.csv").iloc[-1500:],
    }


@pytest.mark.parametrize("config_name", sorted(CONFIGS))
@pytest.mark.parametrize("strategy", sorted(GRIDS))
def test_every_aot_scenario_equals_the_jit_and_the_backtester(
    compiled: ModuleType, series: dict[str, pd.DataFrame], strategy: str, config_name: str
) -> None:
    config, grid = CONFIGS[config_name], GRIDS[strategy]
    traded = 0
    for name, bars in series.items():
        with aot.forced(None):
            jit = sweep_strategy(bars, strategy, grid, config)
        with aot.forced(compiled):
            swept = sweep_strategy(bars, strategy, grid, config)
        # the same source through the same LLVM: the same bits, not only within 1e-9
        pd.testing.assert_frame_equal(swept, jit, check_exact=True)
        for i, row in grid.iterrows():
            strat = get_strategy(strategy, _params(row))
            metrics = run_backtest(bars, strat, config, journal=False).metrics
            assert_row_equals(swept.iloc[i], metrics, f"aot {name} {strategy} {config_name} {i}")
            traded += metrics["entries"]
    assert traded > 0


def test_threads_and_blocks_do_not_change_the_bits(
    compiled: ModuleType, series: dict[str, pd.DataFrame]
) -> None:
    bars = series["xrp_4h"]
    grid = macd_grid().iloc[::37].reset_index(drop=True)
    config = BacktestConfig(stop_loss_pct=0.03, trailing_stop_pct=0.05)
    with aot.forced(None):  # the JIT's serial and prange drivers (the fallback)
        jit = sweep_blocks(bars, "macd", grid, config, parallel=False, blocks=8)
        prange = sweep_blocks(bars, "macd", grid, config, parallel=True, blocks=8)
    with aot.forced(compiled):
        serial = sweep_blocks(bars, "macd", grid, config, parallel=False, blocks=8)
        threaded = sweep_blocks(bars, "macd", grid, config, parallel=True, blocks=8)
    assert drivers.threads_for(10**9, True) >= 1
    assert drivers.threads_for(10**9, False) == drivers.threads_for(10, None) == 1
    with aot.forced(compiled):
        assert drivers.drivers(1, False) is not None
    with aot.forced(None):
        assert drivers.drivers(1, False) is None
    for run in (prange, serial, threaded):
        pd.testing.assert_frame_equal(run.table, jit.table, check_exact=True)
        np.testing.assert_array_equal(run.moments, jit.moments)
    assert np.abs(jit.moments).sum() > 0
    # the signal drivers, with per-row levels and sizes (grid) and without (swing)
    for strategy in ("swing", "grid"):
        rows = pd.concat([GRIDS[strategy]] * 3, ignore_index=True)
        with aot.forced(None):
            want = sweep_blocks(bars, strategy, rows, config, parallel=False, blocks=4)
        with aot.forced(compiled):
            got = sweep_blocks(bars, strategy, rows, config, parallel=True, blocks=4, chunk=7)
        pd.testing.assert_frame_equal(got.table, want.table, check_exact=True)
        np.testing.assert_array_equal(got.moments, want.moments)
        assert want.table["entries"].sum() > 0, strategy


def test_indicator_kernels_equal_the_jit_and_odd_inputs_fall_back(compiled: ModuleType) -> None:
    from trading_core.indicators import _kernels

    rng = np.random.default_rng(7)
    close = 100 + np.cumsum(rng.normal(size=600))
    high, low = close + 1.0, close - 1.0
    calls = {
        "window_mean": (close, 20),
        "window_std": (close, 20),
        "window_max": (close, 14),
        "window_mean_abs_dev": (close, 20),
        "ema_talib": (close, 26),
        "ema_pandas": (close, 12),
        "macd_talib": (close, 12, 26),
        "rsi_wilder": (close, 14),
        "true_range": (high, low, close),
        "atr_wilder": (high, low, close, 14),
        "adx_wilder": (high, low, close, 14),
        "obv": (close, np.abs(close)),
        "window_ratio_of_sums": (close, np.abs(close), 10),
        "first_valid": (np.r_[np.nan, close],),
    }
    jitted = _kernels.jit_all()
    for name, args in calls.items():
        assert hasattr(compiled, name), f"{name} is not compiled ahead of time"
        want = jitted[name](*args)
        got = getattr(compiled, name)(*args)
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want), err_msg=name)
        with aot.forced(compiled):
            np.testing.assert_array_equal(
                np.asarray(getattr(_kernels, name)(*args)), np.asarray(want), err_msg=name
            )
    # inputs outside the compiled signatures go to the JIT, with the JIT's answer
    strided = close[::2]
    as_float32 = close.astype(np.float32)
    with aot.forced(compiled):
        np.testing.assert_array_equal(
            _kernels.window_mean(strided, 5), jitted["window_mean"](strided, 5)
        )
        np.testing.assert_array_equal(
            _kernels.window_mean(close, np.int32(5)), jitted["window_mean"](close, 5)
        )
        np.testing.assert_array_equal(
            _kernels.window_mean(as_float32, 5), jitted["window_mean"](as_float32, 5)
        )


def test_fits_refuses_what_the_signatures_do_not_name() -> None:
    x = np.arange(4.0)
    assert aot._fits((x, 3), "ai") is not None
    for args, kinds in (
        ((x, 3.0), "ai"),
        ((x, True), "ai"),
        ((x.astype(np.int64), 3), "ai"),
        ((x.reshape(2, 2), 3), "ai"),
        (([1.0, 2.0], 3), "ai"),
        ((x,), "ai"),
        ((x, x), "a-"),
    ):
        assert aot._fits(args, kinds) is None, (args, kinds)


def test_a_stale_or_broken_module_is_never_used(
    compiled: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = Path(compiled.__file__ or "")
    copy_dir = tmp_path / "stale"
    copy_dir.mkdir()
    (copy_dir / built.name).write_bytes(built.read_bytes())
    monkeypatch.setattr(aot, "source_hash", lambda: compiled.source_hash() + 1)
    assert aot.load(copy_dir) is None
    assert aot.status(copy_dir).startswith("stale")
    broken = tmp_path / "broken"
    broken.mkdir()
    aot.module_path(broken).write_bytes(b"not an ELF file")
    assert aot.load(broken) is None
    assert aot.status(broken).startswith("unloadable")
    empty = tmp_path / "empty"
    assert aot.load(empty) is None
    assert aot.status(empty).startswith("absent")
    monkeypatch.setenv("TRADING_AOT", "0")
    assert aot.load(Path(compiled.__file__ or "").parent) is None
    assert aot.status().startswith("off")


def test_the_stamp_follows_every_source() -> None:
    assert aot.source_hash() == aot.source_hash()
    assert 0 < aot.source_hash() < 2**63
    for relative in aot.SOURCES:
        assert (aot.ROOT / relative).is_file(), relative


def _python(code: str, aot_dir: Path) -> str:
    env = {**os.environ, "TRADING_AOT_DIR": str(aot_dir)}
    env.pop("TRADING_AOT", None)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_trading_sweep_never_imports_numba_when_compiled(
    compiled: ModuleType, tmp_path: Path, shared_data: Path
) -> None:
    aot_dir = Path(compiled.__file__ or "").parent
    assert _python("import sys; import trading_core.aot as a; a.load(); "
                   "print('numba' in sys.modules)", aot_dir) == "False"  # fmt: skip
    params = tmp_path / "p.csv"
    macd_grid().iloc[:3].to_csv(params, index=False)
    out = tmp_path / "out.csv"
    ohlcv = shared_data / "market" / "binance_ETHUSDT_1d.csv"
    code = (
        "import sys\n"
        "from trading_pipelines.cli import main\n"
        f"code = main(['sweep', '--ohlcv', {str(ohlcv)!r}, '--strategy', 'macd',"
        f" '--params-file', {str(params)!r}, '--pbo-blocks', '0', '--out', {str(out)!r}])\n"
        "print(code, 'numba' in sys.modules)\n"
    )
    assert _python(code, aot_dir).splitlines()[-1] == "0 False"
    with aot.forced(None):
        bars = read_ohlcv_csv(ohlcv)
        jit = sweep_strategy(bars, "macd", macd_grid().iloc[:3], BacktestConfig())
    written = pd.read_csv(out)
    np.testing.assert_allclose(written["total_return"], jit["total_return"], rtol=1e-12)


def test_the_jit_cache_is_keyed_by_every_kernel_source(monkeypatch: pytest.MonkeyPatch) -> None:
    """numba checks a cached function only against its own file: a cached parallel driver
    would otherwise run an older sweep_kernel.py it inlined (seen: a segfault)."""
    from numba.core import config

    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setattr(config, "CACHE_DIR", config.CACHE_DIR)
    aot.use_source_keyed_cache()
    first = config.CACHE_DIR
    assert first.endswith(f"{aot.source_hash(aot.JIT_SOURCES):x}")
    assert "backtest/sweep_parallel.py" in aot.JIT_SOURCES
    assert set(aot.SOURCES) <= set(aot.JIT_SOURCES)
    monkeypatch.setattr(aot, "source_hash", lambda sources=aot.SOURCES: 12345)
    aot.use_source_keyed_cache()
    assert first != config.CACHE_DIR and config.CACHE_DIR.endswith("3039")
    monkeypatch.setenv("NUMBA_CACHE_DIR", "/elsewhere")  # the user's choice is kept
    before = config.CACHE_DIR
    aot.use_source_keyed_cache()
    assert before == config.CACHE_DIR
