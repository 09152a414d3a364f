"""Paths and small helpers shared by the tests of tests/analysis."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "strategies"
EMA_CROSS = EXAMPLES / "ema_cross.py"
LOOKAHEAD_EXAMPLE = EXAMPLES / "lookahead_example.py"

HEADER = """
import pandas as pd
from pydantic import Field
from trading_core.strategies import Strategy, StrategyParams
"""


def write(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / name
    path.write_text(source, encoding="utf-8")
    return path


def strategy_source(class_name: str, name: str, body: str = "", params: str = "") -> str:
    """A minimal strategy file; ``body`` replaces the signal expression of ``compute``."""
    signal = body or "bars['close'] > bars['close'].shift(1)"
    fields = params or "    threshold: float = Field(0.0, ge=0)"
    return f"""{HEADER}

class {class_name}Params(StrategyParams):
{fields}


class {class_name}(Strategy):
    name = {name!r}
    params_model = {class_name}Params
    required_columns = ("close",)

    @property
    def warmup(self) -> int:
        return 1

    def compute(self, bars: pd.DataFrame) -> pd.DataFrame:
        up = {signal}
        return pd.DataFrame({{"entry": up, "exit": ~up}})
"""
