"""Order intents: what a strategy wants, before the risk gate and before any order exists.

The code location writes intents into the ledger; ``trading intents submit`` lets a user or
another system do the same; the executor turns them into orders. ``intent_id`` is
deterministic, so re-running a strategy evaluation for the same bar never creates a second
intent (the ledger has a unique constraint on it).

Every ``OrderIntent`` is valid by construction: ``__post_init__`` raises ``InvalidIntent``
(a ``ValueError`` naming the field) for anything the executor could not trade as written.
Sizes and prices must be finite and within ``[MIN_AMOUNT, MAX_AMOUNT]``, so products and
quotients of them (notional / price, quantity * price) stay finite. Whether an intent is
still fresh (``decided_at`` against the market clock) is the executor's call, not this
module's: a replay has its own clock. ``intent_from_mapping`` builds one from JSON-ish input.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import numbers
import re
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from trading_core.timeframes import TIMEFRAME_SECONDS

Side = Literal["buy", "sell"]
Action = Literal["open", "close"]
OrderType = Literal["market", "limit"]

MIN_AMOUNT = 1e-12
MAX_AMOUNT = 1e15
# Client order ids embed the intent id (executor.orders.client_order_id): alphanumeric, 24 max.
INTENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9]{1,24}$")
# Strategy instance ids, as trading_core.config_portfolio allows them in `strategies:`.
INSTANCE_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
# The single-strategy instance (trading_core.config_portfolio.DEFAULT_INSTANCE): its intent
# ids are the ones made before instances existed.
DEFAULT_INSTANCE_ID = "default"
# Unified ccxt symbols: BASE/QUOTE, optionally :SETTLE.
SYMBOL_PATTERN = re.compile(r"^[A-Za-z0-9._-]+/[A-Za-z0-9._-]+(:[A-Za-z0-9._-]+)?$")
# The ledger's column widths.
TEXT_LIMITS: dict[str, int] = {"strategy": 64, "exchange": 32, "symbol": 32}
PRICE_FIELDS: tuple[str, ...] = (
    "notional",
    "quantity",
    "limit_price",
    "reference_price",
    "stop_loss",
    "take_profit",
)
DATETIME_FIELDS: tuple[str, ...] = ("bar_ts", "decided_at")
FRACTION_FIELDS: tuple[str, ...] = ("trailing_stop_pct", "stop_loss_pct", "take_profit_pct")


class InvalidIntent(ValueError):
    """An intent the executor cannot trade as written; the message names the field."""


def make_intent_id(
    strategy: str,
    exchange: str,
    symbol: str,
    timeframe: str,
    bar_ts: datetime,
    action: str,
    *,
    instance: str | None = None,
) -> str:
    """Deterministic id of the decision taken by ``strategy`` (of strategy ``instance``) on
    one bar. Two instances on the same symbol and bar get different ids; the single-strategy
    ``default`` instance (or none named) keeps the ids it had before instances existed, so
    existing ledgers stay idempotent across the upgrade."""
    parts = [strategy, exchange, symbol, timeframe, bar_ts.isoformat(), action]
    if instance is not None and instance != DEFAULT_INSTANCE_ID:
        if not isinstance(instance, str) or not INSTANCE_ID_PATTERN.match(instance):
            raise InvalidIntent(
                "instance must be a strategy instance id (lowercase letters, digits, '_' or "
                f"'-', at most 40), got {_brief(instance)}"
            )
        parts.append(f"instance={instance}")
    key = "|".join(parts)
    return hashlib.sha256(key.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class OrderIntent:
    intent_id: str
    strategy: str  # a free label: a strategy name, "manual", another system's name
    exchange: str
    symbol: str  # unified ccxt symbol, BTC/USDT
    timeframe: str
    bar_ts: datetime  # open time of the bar the decision was taken on (naive UTC)
    decided_at: datetime  # when the decision was known: the bar's close time (naive UTC)
    side: Side
    action: Action  # open a position, or close (all of) it
    order_type: OrderType = "market"
    # Size: a quote-currency notional or a base quantity (one of them) for opening buys; a
    # base quantity, or None for "the whole position" when closing.
    notional: float | None = None
    quantity: float | None = None
    limit_price: float | None = None
    # The price the decision saw (signal bar close); None when unknown (a manual trade):
    # then no price-deviation guard applies.
    reference_price: float | None = None
    stop_loss: float | None = None
    take_profit: float | None = None
    trailing_stop_pct: float | None = None
    # A limit entry that must rest on the book (maker only): refused rather than crossing.
    post_only: bool = False
    reasons: dict[str, Any] = field(default_factory=dict)
    # The strategy instance (`strategies:` id) the intent is for. None: the ledger files it
    # under `manual` (`trading intents submit`) or `default` (the single-strategy asset).
    instance: str | None = None
    # The all-in convention of the single-strategy asset and replays (issue 11): the notional
    # is the cash the entry commits with its fee (value + fee == notional: the taker fee for a
    # market entry, the maker fee for a limit), and the stop / take-profit fractions are
    # applied to the fill price once the entry fills (``position_sizing.exit_levels``; an
    # absolute stop_loss / take_profit, the strategy's own, wins over its fraction).
    notional_includes_fee: bool = False
    stop_loss_pct: float | None = None
    take_profit_pct: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.intent_id, str) or not INTENT_ID_PATTERN.match(self.intent_id):
            raise InvalidIntent(
                f"intent_id must be 1 to 24 letters or digits, got {_brief(self.intent_id)}"
            )
        for name in ("strategy", "exchange", "symbol"):
            _check_text(name, getattr(self, name))
        if not SYMBOL_PATTERN.match(self.symbol):
            raise InvalidIntent(
                f"symbol {_brief(self.symbol)} must look like BASE/QUOTE, e.g. BTC/USDT"
            )
        if not isinstance(self.timeframe, str) or self.timeframe not in TIMEFRAME_SECONDS:
            raise InvalidIntent(
                f"timeframe {_brief(self.timeframe)}; allowed: {list(TIMEFRAME_SECONDS)}"
            )
        for name in DATETIME_FIELDS:
            _check_datetime(name, getattr(self, name))
        if self.decided_at < self.bar_ts:
            raise InvalidIntent(
                f"decided_at {self.decided_at.isoformat()} is before bar_ts "
                f"{self.bar_ts.isoformat()}"
            )
        _check_choice("side", self.side, Side)
        _check_choice("action", self.action, Action)
        _check_choice("order_type", self.order_type, OrderType)
        for name in (*PRICE_FIELDS, *FRACTION_FIELDS):
            object.__setattr__(self, name, _amount(name, getattr(self, name)))
        for name in ("trailing_stop_pct", "stop_loss_pct"):
            value = getattr(self, name)
            if value is not None and not value < 1:
                raise InvalidIntent(f"{name} must be a fraction in (0, 1), got {_brief(value)}")
        if not isinstance(self.notional_includes_fee, bool):
            raise InvalidIntent(
                f"notional_includes_fee must be true or false, got "
                f"{_brief(self.notional_includes_fee)}"
            )
        if not isinstance(self.post_only, bool):
            raise InvalidIntent(f"post_only must be true or false, got {_brief(self.post_only)}")
        if not isinstance(self.reasons, dict):
            raise InvalidIntent(f"reasons must be an object, got {_brief(self.reasons)}")
        if self.instance is not None and (
            not isinstance(self.instance, str) or not INSTANCE_ID_PATTERN.match(self.instance)
        ):
            raise InvalidIntent(
                "instance must be a strategy instance id (lowercase letters, digits, '_' or "
                f"'-', at most 40), got {_brief(self.instance)}"
            )
        self._check_shape()

    def _check_shape(self) -> None:
        if self.order_type == "limit" and self.limit_price is None:
            raise InvalidIntent("a limit intent needs limit_price")
        if self.order_type == "market" and self.limit_price is not None:
            raise InvalidIntent("limit_price is set on a market intent; use order_type 'limit'")
        if self.post_only and self.order_type != "limit":
            raise InvalidIntent("post_only needs order_type 'limit'")
        if self.action == "open":
            if self.notional is None and self.quantity is None:
                raise InvalidIntent("an opening intent needs notional or quantity")
            if self.notional is not None and self.quantity is not None:
                raise InvalidIntent("an opening intent takes notional or quantity, not both")
        elif self.notional is not None:
            raise InvalidIntent(
                "a close intent is sized by quantity (or none: the whole position), not notional"
            )
        if self.notional_includes_fee and self.notional is None:
            raise InvalidIntent("notional_includes_fee needs a notional (an opening intent's)")

    def to_row(self) -> dict[str, Any]:
        """The ledger row's values (``instance`` is the ``instance_id`` column)."""
        row = asdict(self)
        row["reasons"] = json.dumps(self.reasons, sort_keys=True, default=str)
        row["instance_id"] = row.pop("instance")
        return row


INTENT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(OrderIntent))
REQUIRED_FIELDS: tuple[str, ...] = tuple(
    f.name for f in fields(OrderIntent) if f.default is MISSING and f.default_factory is MISSING
)


def intent_from_mapping(obj: Mapping[str, Any]) -> OrderIntent:
    """An intent from JSON-ish input (a parsed JSON line, a ledger row's mapping).

    Keys are exactly the ``OrderIntent`` fields (``instance`` may be written ``instance_id``,
    the ledger's column): a missing required one or an unknown one (a typo) is an error.
    ``bar_ts``/``decided_at`` are datetimes (naive = UTC) or ISO-8601 strings with an offset
    (``Z``, ``+00:00``, or any other, converted to UTC); ``reasons`` is an object or the
    ledger's JSON text of one. Raises ``InvalidIntent`` with the reason.
    """
    if not isinstance(obj, Mapping):
        raise InvalidIntent(f"an intent must be an object, got {type(obj).__name__}")
    if "instance_id" in obj:  # the ledger row's name of ``instance``
        if "instance" in obj:
            raise InvalidIntent("give instance or instance_id (the ledger's name), not both")
        obj = {("instance" if k == "instance_id" else k): v for k, v in obj.items()}
    unknown = [key for key in obj if key not in INTENT_FIELDS]
    if unknown:
        raise InvalidIntent("; ".join(_unknown_field(key) for key in unknown))
    missing = [name for name in REQUIRED_FIELDS if name not in obj]
    if missing:
        raise InvalidIntent(f"missing field(s): {', '.join(missing)}")
    values = dict(obj)
    for name in DATETIME_FIELDS:
        values[name] = _parse_utc(name, values[name])
    if isinstance(values.get("reasons"), str):
        values["reasons"] = _parse_reasons(values["reasons"])
    return OrderIntent(**values)


def _parse_utc(name: str, value: Any) -> Any:
    """A naive UTC datetime from a datetime (naive = UTC) or an ISO-8601 string with an offset."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidIntent(f"{name} {_brief(value)} is not an ISO-8601 date-time") from None
        if parsed.tzinfo is None:
            raise InvalidIntent(
                f"{name} {_brief(value)} has no UTC offset; write it as UTC, e.g. {value}Z"
            )
        value = parsed
    if isinstance(value, datetime) and value.tzinfo is not None:
        try:
            return value.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:  # 9999-12-31T23:00-05:00 has no UTC date
            raise InvalidIntent(f"{name} {_brief(value)} is out of range in UTC") from None
    return value


def _parse_reasons(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise InvalidIntent(f"reasons must be an object, got {_brief(text)}") from None


def _brief(value: Any) -> str:
    """``repr(value)``, cut to a readable length (hostile input can be megabytes)."""
    try:
        text = repr(value)
    except ValueError:  # an int past Python's 4300-digit limit
        return f"a {type(value).__name__} too long to show"
    return text if len(text) <= 60 else f"{text[:57]}..."


def _unknown_field(key: Any) -> str:
    close = difflib.get_close_matches(str(key), INTENT_FIELDS, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown field {_brief(key)}{hint}"


def _check_text(name: str, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidIntent(f"{name} must be a non-empty string, got {_brief(value)}")
    if value != value.strip() or not value.isprintable():
        raise InvalidIntent(f"{name} {_brief(value)} has surrounding spaces or control characters")
    if len(value) > TEXT_LIMITS[name]:
        raise InvalidIntent(f"{name} is longer than {TEXT_LIMITS[name]} characters")


def _check_datetime(name: str, value: Any) -> None:
    if not isinstance(value, datetime) or value != value:  # pandas' NaT is a datetime
        raise InvalidIntent(f"{name} must be a date-time, got {_brief(value)}")
    if value.tzinfo is not None:
        raise InvalidIntent(f"{name} {value.isoformat()} must be naive UTC")


def _check_choice(name: str, value: Any, allowed: Any) -> None:
    if value not in get_args(allowed):
        choices = ", ".join(repr(a) for a in get_args(allowed))
        raise InvalidIntent(f"{name} {_brief(value)}; allowed: {choices}")


def _amount(name: str, value: Any) -> float | None:
    """``value`` as a float within [MIN_AMOUNT, MAX_AMOUNT], or None when it is None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidIntent(f"{name} must be a number, got {_brief(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise InvalidIntent(f"{name} must be a finite number, got {_brief(value)}")
    if number <= 0:
        raise InvalidIntent(f"{name} must be positive, got {_brief(value)}")
    if not MIN_AMOUNT <= number <= MAX_AMOUNT:
        raise InvalidIntent(
            f"{name} {_brief(value)} is outside [{MIN_AMOUNT:g}, {MAX_AMOUNT:g}], the range the "
            "executor trades"
        )
    return number
