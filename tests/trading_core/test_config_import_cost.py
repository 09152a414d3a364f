"""Every process imports the configuration at start (the CLI, the executor, the supervisor):
importing it must not load pandas or numpy, which only the work needs. (Loading it validates
the strategy's name and parameters, which imports the strategies and so pandas.)"""

from __future__ import annotations

import subprocess
import sys


def test_the_configuration_imports_without_pandas_or_numpy() -> None:
    code = (
        "import sys, trading_core.config\n"
        "print(sorted(m for m in ('pandas', 'numpy') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_the_quality_limits_are_the_policies_defaults() -> None:
    from trading_core.config import MarketConfig
    from trading_core.quality.gap_policy import GapPolicy
    from trading_core.quality.spike_policy import SpikePolicy

    market, gap, spike = MarketConfig(), GapPolicy(), SpikePolicy()
    assert (market.max_gap_candles, market.max_gap_ratio) == (
        gap.max_gap_candles,
        gap.max_gap_ratio,
    )
    assert market.spike_confirm_bars == spike.confirm_bars
