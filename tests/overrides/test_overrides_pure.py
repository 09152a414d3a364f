"""``executor.overrides``: the pure state machine of the operator overrides (apply, expiry,
the stored document, the entry refusal and the risk scale), with hostile inputs."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import pytest

from executor.overrides import (
    Context,
    Hold,
    OverrideError,
    Overrides,
    apply,
    check_scale,
    entry_refusal,
    parse_duration,
    parse_until,
    project,
    risk_scale,
)

NOW = datetime(2026, 12, 1, 12, 0)
CTX = Context(
    now=NOW,
    symbols=frozenset({"BTC/USDT", "ETH/USDT"}),
    instances=frozenset({"a", "b"}),
    tier=1,
    tier_risk_per_trade=0.02,
)


def hold(command: int = 1, by: str = "alice") -> Hold:
    return Hold(NOW, by, "test", command)


def run(state: Overrides, command: str, symbol: str | None = None, ctx: Context = CTX,
        **args: Any) -> tuple[Overrides, str, bool]:  # fmt: skip
    out = apply(state, command, symbol, args, hold(), ctx)
    return out.state, out.result, out.applied


def test_blacklist_refuses_entries_until_lifted_or_expired() -> None:
    state, result, ok = run(Overrides(), "blacklist", "BTC/USDT",
                            until=(NOW + timedelta(hours=1)).isoformat())  # fmt: skip
    assert ok and "no new entries until 2026-12-01T13:00:00Z" in result
    assert entry_refusal(state, "BTC/USDT", "a", NOW).startswith("operator blacklist: BTC/USDT")
    assert entry_refusal(state, "ETH/USDT", "a", NOW) is None
    assert entry_refusal(state, "BTC/USDT", "a", NOW + timedelta(hours=1)) is None  # expired
    lifted, result, ok = run(state, "unblacklist", "BTC/USDT")
    assert ok and entry_refusal(lifted, "BTC/USDT", "a", NOW) is None


@pytest.mark.parametrize(
    ("command", "symbol", "args", "words"),
    [
        ("blacklist", "XRP/USDT", {}, "unknown symbol 'XRP/USDT'"),
        ("unblacklist", "BTC/USDT", {}, "BTC/USDT is not blacklisted"),
        ("pause-instance", None, {"instance": "zzz"}, "unknown instance 'zzz'"),
        ("pause-instance", None, {}, "unknown instance ''"),
        ("resume-instance", None, {"instance": "a"}, "instance 'a' is not paused"),
        ("set-risk", None, {"scale": math.nan}, "scale must be a finite number"),
        ("set-risk", None, {"scale": "0.5"}, "scale must be a number"),
        ("set-risk", None, {"scale": True}, "scale must be a number"),
        ("set-risk", None, {"scale": 0.5, "risk_per_trade": 0.01}, "takes one of"),
        ("set-risk", None, {}, "takes one of"),
        ("set-risk", None, {"scale": 0.5, "until": "2020-01-01T00:00:00"}, "expired before"),
        ("set-risk", None, {"scale": 0.5, "until": "soon"}, "until must be an ISO date-time"),
        ("halt", None, {}, "is not an override"),
    ],
)
def test_refusals_change_nothing_and_say_why(
    command: str, symbol: str | None, args: dict[str, Any], words: str
) -> None:
    state, result, ok = run(Overrides(), command, symbol, **args)
    assert not ok and result.startswith("refused: ") and words in result
    assert state == Overrides()


def test_duplicates_are_refused() -> None:
    state, _, _ = run(Overrides(), "blacklist", "BTC/USDT")
    assert "already blacklisted (command 1 by alice)" in run(state, "blacklist", "BTC/USDT")[1]
    state, _, _ = run(state, "pause-instance", instance="a")
    assert "already paused" in run(state, "pause-instance", instance="a")[1]
    state, _, _ = run(state, "set-risk", scale=0.5)
    assert "already in force" in run(state, "set-risk", scale=0.5)[1]
    assert run(state, "set-risk", scale=0.25)[2]  # a different scale replaces it


def test_set_risk_needs_the_protocol_and_respects_the_cap() -> None:
    off = Context(NOW, CTX.symbols, CTX.instances)
    assert "the risk protocol is off" in run(Overrides(), "set-risk", ctx=off, scale=0.5)[1]
    assert "allow_above_tier is false" in run(Overrides(), "set-risk", scale=1.01)[1]
    wide = Context(NOW, CTX.symbols, CTX.instances, 1, 0.02, scale_cap=2.0)
    state, result, ok = run(Overrides(), "set-risk", ctx=wide, risk_per_trade=0.03)
    assert ok and "3.0000% per trade now" in result
    assert "above tier 1's limit" in run(Overrides(), "set-risk", ctx=wide,
                                         risk_per_trade=0.05)[1]  # fmt: skip
    # sized later under a stricter cap (the config changed): never above it
    scale, detail = risk_scale(state, NOW, 0.02, 1.0)
    assert scale == 1.0 and detail["asked"] == pytest.approx(1.5)
    # a tier with a higher risk per trade: the same absolute risk is a smaller scale
    assert risk_scale(state, NOW, 0.06, 2.0)[0] == pytest.approx(0.5)


def test_the_document_round_trips_and_a_broken_one_is_named() -> None:
    state, _, _ = run(Overrides(), "blacklist", "BTC/USDT",
                      until=(NOW + timedelta(days=1)).isoformat())  # fmt: skip
    state, _, _ = run(state, "pause-instance", instance="b")
    state, _, _ = run(state, "set-risk", risk_per_trade=0.01)
    assert Overrides.from_json(state.to_json()) == state
    assert Overrides.from_json(None) == Overrides()
    for broken in ("not json", '{"risk": {"scale": 1}}', '{"blacklist": {"X": {"since": 3}}}',
                   '{"risk": {"since": "2026-01-01", "by": "a", "why": "", "command": 1, '
                   '"scale": NaN}}', "[]"):  # fmt: skip
        with pytest.raises(OverrideError, match="operator_overrides is not an overrides"):
            Overrides.from_json(broken)


def test_project_applies_pending_commands_in_order() -> None:
    pending = [
        ("blacklist", "BTC/USDT", {}, hold(1)),
        ("blacklist", "BTC/USDT", {}, hold(2)),  # refused: already
        ("unblacklist", "BTC/USDT", {}, hold(3)),
        ("pause-instance", None, {"instance": "a"}, hold(4)),
        ("close-all", None, {}, hold(5)),  # not an override: ignored
    ]
    state = project(Overrides(), pending, CTX)
    assert state.blacklist == {} and set(state.paused) == {"a"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30m", timedelta(minutes=30)), ("2h", timedelta(hours=2)), ("1.5d", timedelta(hours=36)),
     ("2H", timedelta(hours=2))],
)  # fmt: skip
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["0h", "-1h", "1e9h", "2w", "h", "", "nan", "9999999d", 5])
def test_bad_durations_are_refused(text: object) -> None:
    with pytest.raises(OverrideError, match="duration must"):
        parse_duration(text)


def test_until_takes_offsets_as_utc_and_refuses_nonsense() -> None:
    assert parse_until("2026-12-01T14:00+02:00") == datetime(2026, 12, 1, 12, 0)
    with pytest.raises(OverrideError, match="until must be an ISO date-time"):
        parse_until("tomorrow-ish")


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, -1.0, 0.0, 1.0001, None, "1"])
def test_check_scale_refuses_hostile_values(value: object) -> None:
    with pytest.raises(OverrideError, match="scale"):
        check_scale(value, 1.0)
