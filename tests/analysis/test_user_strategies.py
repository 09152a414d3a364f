"""User strategies from a file or an entry point: loading, registration, every broken case."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.analysis.helpers import EMA_CROSS, HEADER, strategy_source, write
from trading_core.config import StrategyConfig
from trading_core.strategies import STRATEGIES, StrategyError, get_strategy
from trading_core.strategies.loader import ENTRY_POINT_GROUP, load_strategy_file
from trading_core.strategies.registry import (
    refresh_entry_points,
    register_strategy_file,
    strategy_from_file,
)


def _one_line_naming(err: pytest.ExceptionInfo[StrategyError], path: Path, *words: str) -> None:
    message = str(err.value)
    assert "\n" not in message, message
    assert str(path.resolve()) in message, message
    for word in words:
        assert word in message, message


def test_ema_cross_example_registers_beside_the_builtins() -> None:
    cls = register_strategy_file(EMA_CROSS)
    assert cls.name == "ema_cross"
    assert "ema_cross" in STRATEGIES and "macd" in STRATEGIES
    assert STRATEGIES.origin("ema_cross") == f"strategy file {EMA_CROSS.resolve()}"
    strategy = get_strategy("ema_cross", {"fast": 5, "slow": 20})
    assert strategy.params.model_dump() == {"fast": 5, "slow": 20, "stop_loss_pct": None}
    assert strategy.warmup_bars > 20
    # Loading the same file again (a second command in one process) is allowed.
    assert register_strategy_file(EMA_CROSS).name == "ema_cross"


def test_a_user_strategy_validates_in_strategies_config() -> None:
    register_strategy_file(EMA_CROSS)
    config = StrategyConfig(name="ema_cross", params={"fast": 8, "slow": 21})
    assert config.params == {"fast": 8, "slow": 21}
    with pytest.raises(ValueError, match="fast"):
        StrategyConfig(name="ema_cross", params={"fast": 30, "slow": 21})


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"fast": math.nan}, "fast"),
        ({"fast": -3}, "fast"),
        ({"slow": 10**9}, "slow"),
        ({"fast": "twelve"}, "fast"),
        ({"fast": 30, "slow": 20}, "fast (30) must be < slow (20)"),
        ({"fats": 3}, "fats: unknown parameter; allowed: fast, slow, stop_loss_pct"),
        ({"stop_loss_pct": 1.5}, "stop_loss_pct"),
    ],
)
def test_bad_params_are_one_line_naming_the_file_and_field(params: dict, field: str) -> None:
    with pytest.raises(StrategyError) as err:
        strategy_from_file(EMA_CROSS, params)
    _one_line_naming(err, EMA_CROSS, field, "ema_cross")


BROKEN = {
    "syntax": ("def compute(:\n", "syntax error at line 1"),
    "import_error": ("import no_such_module_for_trading\n", "ModuleNotFoundError"),
    "runtime_error": ("x = 1\nraise RuntimeError('boom at import')\n", "line 2"),
    "no_strategy": ("VALUE = 1\n", "defines no Strategy subclass"),
    "two_strategies": (
        strategy_source("FirstStrategy", "first_one")
        + strategy_source("SecondStrategy", "second_one"),
        "defines 2 Strategy subclasses (FirstStrategy, SecondStrategy)",
    ),
    "abstract_only": (
        HEADER + "class Half(Strategy):\n    name = 'half'\n",
        "defines no Strategy subclass",
    ),
    "builtin_name": (strategy_source("MyMacd", "macd"), "taken by a built-in strategy"),
    "bad_name": (strategy_source("Spaced", "my strategy"), "lowercase identifier"),
    "bad_params_model": (
        strategy_source("NoModel", "no_model").replace(
            "params_model = NoModelParams", "params_model = dict"
        ),
        "params_model must be a StrategyParams subclass",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_every_broken_file_is_a_one_line_error_naming_it(tmp_path: Path, case: str) -> None:
    source, expected = BROKEN[case]
    path = write(tmp_path, f"{case}.py", source)
    with pytest.raises(StrategyError) as err:
        register_strategy_file(path)
    _one_line_naming(err, path, expected)
    assert not [n for n in STRATEGIES if STRATEGIES.origin(n) is not None]


def test_missing_and_non_python_files(tmp_path: Path) -> None:
    with pytest.raises(StrategyError) as err:
        load_strategy_file(tmp_path / "absent.py")
    _one_line_naming(err, tmp_path / "absent.py", "no such file")
    text = write(tmp_path, "notes.txt", "hello")
    with pytest.raises(StrategyError) as err:
        load_strategy_file(text)
    _one_line_naming(err, text, "expected a .py file")


def test_two_files_may_not_claim_one_name(tmp_path: Path) -> None:
    first = write(tmp_path, "a.py", strategy_source("AStrategy", "shared_name"))
    second = write(tmp_path, "b.py", strategy_source("BStrategy", "shared_name"))
    register_strategy_file(first)
    with pytest.raises(StrategyError) as err:
        register_strategy_file(second)
    _one_line_naming(err, second, "already registered from", str(first.resolve()))


def test_a_subclass_of_a_builtin_counts_but_the_imported_builtin_does_not(tmp_path: Path) -> None:
    source = (
        "from trading_core.strategies import MacdStrategy\n\n\n"
        "class SlowMacd(MacdStrategy):\n    name = 'slow_macd'\n"
    )
    cls = register_strategy_file(write(tmp_path, "slow_macd.py", source))
    assert cls.__name__ == "SlowMacd"
    assert get_strategy("slow_macd", {"fast": 20, "slow": 50}).params.slow == 50


def _install_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entries: str) -> None:
    """A package installed on sys.path: a module and a dist-info with entry points."""
    package = tmp_path / "my_plugin_strategies"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "good.py").write_text(strategy_source("PluginStrategy", "plugin_momentum"))
    (package / "broken.py").write_text("import no_such_dependency_here\n")
    info = tmp_path / "my_plugin_strategies-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-plugin-strategies\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{entries}")
    monkeypatch.syspath_prepend(str(tmp_path))
    refresh_entry_points()


def test_entry_point_strategies_run_like_builtins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_plugin(
        tmp_path,
        monkeypatch,
        "plugin_momentum = my_plugin_strategies.good:PluginStrategy\n"
        "plugin_broken = my_plugin_strategies.broken:Nothing\n"
        "plugin_misnamed = my_plugin_strategies.good:PluginStrategy\n",
    )
    assert {"plugin_momentum", "plugin_broken", "macd"} <= set(STRATEGIES)
    strategy = get_strategy("plugin_momentum", {"threshold": 0.5})
    assert type(strategy).__name__ == "PluginStrategy"
    assert StrategyConfig(name="plugin_momentum", params={}).name == "plugin_momentum"
    # A broken plugin breaks only itself, with a one-line error naming the entry point.
    with pytest.raises(StrategyError) as err:
        get_strategy("plugin_broken")
    message = str(err.value)
    assert "\n" not in message
    assert "entry point plugin_broken = my_plugin_strategies.broken:Nothing" in message
    assert "ModuleNotFoundError" in message
    with pytest.raises(StrategyError, match="must be equal"):
        get_strategy("plugin_misnamed")
    assert get_strategy("macd").name == "macd"
    with pytest.raises(
        StrategyError, match=r"entry point plugin_momentum = .*: invalid parameters"
    ):
        get_strategy("plugin_momentum", {"threshold": -1})
