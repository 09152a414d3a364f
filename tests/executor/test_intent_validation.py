"""OrderIntent is valid by construction; intent_from_mapping parses JSON-ish input into one."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
import pytest

from executor.intents import (
    INTENT_FIELDS,
    InvalidIntent,
    OrderIntent,
    intent_from_mapping,
    make_intent_id,
)

BAR = datetime(2025, 3, 3, 12, 0)


def fields(**changes: Any) -> dict[str, Any]:
    """A valid opening market buy as keyword arguments; ``changes`` override fields."""
    base: dict[str, Any] = {
        "intent_id": make_intent_id("macd", "sim", "BTC/USDT", "1m", BAR, "open"),
        "strategy": "macd",
        "exchange": "sim",
        "symbol": "BTC/USDT",
        "timeframe": "1m",
        "bar_ts": BAR,
        "decided_at": BAR + timedelta(minutes=1),
        "side": "buy",
        "action": "open",
        "notional": 100.0,
        "reference_price": 60_000.0,
    }
    return {**base, **changes}


def test_a_valid_intent_keeps_its_values_and_reference_price_may_be_unknown() -> None:
    intent = OrderIntent(**fields())
    assert (intent.notional, intent.reference_price, intent.order_type) == (
        100.0,
        60_000.0,
        "market",
    )
    assert OrderIntent(**fields(reference_price=None)).reference_price is None
    assert OrderIntent(**{k: v for k, v in fields().items() if k != "reference_price"})


def test_numbers_are_stored_as_floats() -> None:
    intent = OrderIntent(**fields(notional=50, reference_price=np.float64(1.5)))
    assert type(intent.notional) is float and type(intent.reference_price) is float


NUMBER_FIELDS = ("notional", "limit_price", "reference_price", "stop_loss", "take_profit")


@pytest.mark.parametrize("name", NUMBER_FIELDS)
@pytest.mark.parametrize(
    ("value", "message"),
    [
        (math.nan, "must be a finite number"),
        (math.inf, "must be a finite number"),
        (-math.inf, "must be a finite number"),
        (-1.0, "must be positive"),
        (0.0, "must be positive"),
        (0, "must be positive"),
        (1e308, "is outside [1e-12, 1e+15]"),
        (10**400, "must be a finite number"),
        (1e-300, "is outside [1e-12, 1e+15]"),
        ("100", "must be a number"),
        (True, "must be a number"),
        ([1.0], "must be a number"),
    ],
)
def test_hostile_numbers_are_refused_naming_the_field(name: str, value: Any, message: str) -> None:
    extra = {"order_type": "limit"} if name == "limit_price" else {}
    with pytest.raises(InvalidIntent) as raised:
        OrderIntent(**fields(**{name: value}, **extra))
    assert str(raised.value).startswith(name) and message in str(raised.value)


@pytest.mark.parametrize("value", [math.nan, 0.0, -0.5, 1.0, 1.5, "0.1", False])
def test_trailing_stop_must_be_a_fraction_between_zero_and_one(value: Any) -> None:
    with pytest.raises(InvalidIntent, match=r"^trailing_stop_pct"):
        OrderIntent(**fields(trailing_stop_pct=value))
    assert OrderIntent(**fields(trailing_stop_pct=0.02)).trailing_stop_pct == 0.02


def test_a_nan_quantity_is_refused() -> None:
    with pytest.raises(InvalidIntent, match=r"^quantity must be a finite number"):
        OrderIntent(**fields(notional=None, quantity=math.nan))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"side": "long"}, "side 'long'; allowed: 'buy', 'sell'"),
        ({"side": None}, "side None"),
        ({"action": "flip"}, "action 'flip'; allowed: 'open', 'close'"),
        ({"order_type": "stop"}, "order_type 'stop'; allowed: 'market', 'limit'"),
        ({"order_type": "limit"}, "a limit intent needs limit_price"),
        ({"order_type": "limit", "limit_price": -5.0}, "limit_price must be positive"),
        ({"limit_price": 59_000.0}, "limit_price is set on a market intent"),
        ({"post_only": True}, "post_only needs order_type 'limit'"),
        ({"post_only": 1}, "post_only must be true or false"),
        ({"notional": None}, "an opening intent needs notional or quantity"),
        ({"quantity": 0.01}, "notional or quantity, not both"),
        ({"action": "close", "side": "sell"}, "a close intent is sized by quantity"),
        ({"strategy": ""}, "strategy must be a non-empty string"),
        ({"strategy": "   "}, "strategy must be a non-empty string"),
        ({"strategy": 7}, "strategy must be a non-empty string"),
        ({"strategy": " macd"}, "surrounding spaces"),
        ({"strategy": "x" * 65}, "strategy is longer than 64"),
        ({"exchange": ""}, "exchange must be a non-empty string"),
        ({"symbol": ""}, "symbol must be a non-empty string"),
        ({"symbol": "BTCUSDT"}, "symbol 'BTCUSDT' must look like BASE/QUOTE"),
        ({"symbol": "BTC-USDT"}, "must look like BASE/QUOTE"),
        ({"symbol": "BTC/"}, "must look like BASE/QUOTE"),
        ({"symbol": "BTC/USDT\n"}, "control characters"),
        ({"intent_id": ""}, "intent_id must be 1 to 24 letters or digits"),
        ({"intent_id": "a-b"}, "intent_id must be 1 to 24 letters or digits"),
        ({"intent_id": "a" * 25}, "intent_id must be 1 to 24 letters or digits"),
        ({"intent_id": None}, "intent_id must be"),
        ({"timeframe": "7x"}, "timeframe '7x'; allowed:"),
        ({"bar_ts": "2025-03-03T12:00:00Z"}, "bar_ts must be a date-time"),
        ({"bar_ts": None}, "bar_ts must be a date-time"),
        ({"bar_ts": pd.NaT}, "bar_ts must be a date-time, got NaT"),
        ({"decided_at": datetime(2025, 3, 3).date()}, "decided_at must be a date-time"),
        ({"decided_at": BAR.replace(tzinfo=UTC)}, "must be naive UTC"),
        ({"decided_at": BAR - timedelta(seconds=1)}, "decided_at 2025-03-03T11:59:59 is before"),
        ({"reasons": "because"}, "reasons must be an object"),
    ],
)
def test_malformed_intents_are_refused_with_a_clear_reason(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidIntent) as raised:
        OrderIntent(**fields(**changes))
    assert message in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_sizes_that_are_valid_shapes() -> None:
    assert OrderIntent(**fields(notional=None, quantity=0.5)).quantity == 0.5
    close = OrderIntent(**fields(action="close", side="sell", notional=None))
    assert close.quantity is None  # the whole position
    limit = OrderIntent(**fields(order_type="limit", limit_price=59_000.0, post_only=True))
    assert limit.post_only
    assert OrderIntent(**fields(symbol="BTC/USDT:USDT", decided_at=BAR)).decided_at == BAR


def test_a_future_decided_at_is_a_valid_shape_the_executor_judges_on_its_clock() -> None:
    # Freshness needs the market clock (a replay has its own): admission, not construction.
    far = datetime(2999, 1, 1)
    assert OrderIntent(**fields(decided_at=far)).decided_at == far


# ------------------------------------------------------------------ intent_from_mapping


def json_fields(**changes: Any) -> dict[str, Any]:
    """A valid intent as a JSON line carries it: dates as ISO strings."""
    base = fields(bar_ts="2025-03-03T12:00:00Z", decided_at="2025-03-03T12:01:00+00:00")
    return {**base, **changes}


def test_from_mapping_parses_iso_utc_dates_to_naive_utc() -> None:
    intent = intent_from_mapping(json_fields())
    assert (intent.bar_ts, intent.decided_at) == (BAR, BAR + timedelta(minutes=1))
    assert intent == OrderIntent(**fields())


def test_from_mapping_converts_other_offsets_to_utc() -> None:
    intent = intent_from_mapping(
        json_fields(bar_ts="2025-03-03T14:00:00+02:00", decided_at="2025-03-03T07:01:00-05:00")
    )
    assert (intent.bar_ts, intent.decided_at) == (BAR, BAR + timedelta(minutes=1))
    aware = datetime(2025, 3, 3, 13, 1, tzinfo=timezone(timedelta(hours=1)))
    assert intent_from_mapping(json_fields(decided_at=aware)).decided_at == BAR + timedelta(
        minutes=1
    )


def test_from_mapping_accepts_a_ledger_row() -> None:
    row = OrderIntent(**fields(reasons={"why": "cross"})).to_row()
    assert isinstance(row["reasons"], str)
    assert intent_from_mapping(row) == OrderIntent(**fields(reasons={"why": "cross"}))
    # the ledger's column for ``instance`` is ``instance_id``
    assert set(row) == (set(INTENT_FIELDS) - {"instance"}) | {"instance_id"}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"bar_ts": "2025-03-03T12:00:00"}, "bar_ts '2025-03-03T12:00:00' has no UTC offset"),
        ({"bar_ts": "yesterday"}, "bar_ts 'yesterday' is not an ISO-8601 date-time"),
        ({"bar_ts": 1741003200}, "bar_ts must be a date-time"),
        ({"decided_at": "2025-03-03T11:00:00Z"}, "decided_at 2025-03-03T11:00:00 is before"),
        ({"notinal": 100.0}, "unknown field 'notinal' (did you mean 'notional'?)"),
        ({"colour": "red"}, "unknown field 'colour'"),
        ({"notional": float("nan")}, "notional must be a finite number"),
        ({"reasons": "not json"}, "reasons must be an object, got 'not json'"),
        ({"reasons": "[1, 2]"}, "reasons must be an object"),
    ],
)
def test_from_mapping_refuses_with_the_reason(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidIntent) as raised:
        intent_from_mapping(json_fields(**changes))
    assert message in str(raised.value)


@pytest.mark.parametrize("missing", ["intent_id", "symbol", "side", "action", "decided_at"])
def test_from_mapping_names_a_missing_field(missing: str) -> None:
    values = json_fields()
    del values[missing]
    with pytest.raises(InvalidIntent, match=f"missing field\\(s\\): {missing}"):
        intent_from_mapping(values)


@pytest.mark.parametrize("obj", [None, [], "intent", 3])
def test_from_mapping_refuses_what_is_not_an_object(obj: Any) -> None:
    with pytest.raises(InvalidIntent, match="an intent must be an object"):
        intent_from_mapping(obj)
