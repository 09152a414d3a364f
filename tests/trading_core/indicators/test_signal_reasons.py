"""The composite's ``reasons`` JSON: the same text a plain ``json.dumps`` of the rounded
numbers gives (repr of floats, ``null`` for NaN and infinities), row for row, in order."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from trading_core.signal_reasons import SMALL_ROWS, explain

FIELDS = ("confidence", "contribution", "normalised", "value")


def reference(present: list[str], weights: dict[str, float], fields: dict) -> list[str]:
    """A json.dumps per row of the numbers rounded as NumPy rounds them: the format the
    column-wise build must reproduce."""
    out = []
    for row in range(len(next(iter(fields.values())))):
        obj = {}
        for name in sorted(present):
            j = present.index(name)
            member = {}
            for key, array in fields.items():
                value = float(array[row, j])
                member[key] = float(np.round(value, 6)) if math.isfinite(value) else None
            member["weight"] = weights[name]
            obj[name] = member
        out.append(json.dumps(obj))
    return out


def hostile_values(rows: int, columns: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(rows, columns)) * rng.choice([1e-9, 1e-5, 1, 1e5, 1e17], (rows, 1))
    values[::7, 0] = np.nan
    values[::11, -1] = np.inf
    values[::13, 0] = -np.inf
    values[::5, 1 % columns] = -0.0
    values[::3, -1] = np.round(values[::3, -1])
    values[1, 0] = 0.0000005  # a half at the 6th decimal
    values[2, 0] = 123456789.123456789
    return values


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("rows", [SMALL_ROWS // 2, SMALL_ROWS + 300])  # per row; in DuckDB
def test_reasons_equal_json_dumps_of_the_rounded_numbers(seed: int, rows: int) -> None:
    present = ["rsi", "macd", "trend", "sentiment"]
    weights = {"rsi": 1.0, "macd": 0.5, "trend": 2.0, "sentiment": 0.25}
    fields = {key: hostile_values(rows, len(present), seed + k) for k, key in enumerate(FIELDS)}
    built = explain(present, weights, fields)
    assert list(built) == reference(present, weights, fields)
    for text in built:
        assert list(json.loads(text)) == sorted(present)


def test_row_order_is_kept_on_a_long_frame() -> None:
    rows = 200_000  # large enough for DuckDB to scan in parallel
    present = ["rsi"]
    index = np.arange(rows, dtype=float).reshape(-1, 1)
    fields = {key: index for key in FIELDS}
    built = explain(present, {"rsi": 1.0}, fields)
    assert [json.loads(t)["rsi"]["value"] for t in built[::9973]] == list(index[::9973, 0])


def test_empty_frame_and_no_inputs() -> None:
    empty = {key: np.zeros((0, 1)) for key in FIELDS}
    assert len(explain(["rsi"], {"rsi": 1.0}, empty)) == 0
    with pytest.raises(ValueError, match="at least one input"):
        explain([], {}, empty)
