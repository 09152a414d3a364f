"""The retry policy shared by market data and order calls."""

from __future__ import annotations

import random

import ccxt
import pytest

from trading_core.retry import RetryError, RetryPolicy, call_with_retries, is_retryable


def _flaky(failures: list[BaseException], result: str = "ok"):
    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return result

    return fn, calls


def test_backoff_doubles_up_to_the_cap_and_jitter_stays_below_it() -> None:
    steady = RetryPolicy(max_attempts=9, base_delay=0.5, max_delay=3.0, jitter=False)
    assert [steady.delay(n, random.Random(0)) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    jittered = RetryPolicy(max_attempts=9, base_delay=0.5, max_delay=3.0)
    rng = random.Random(1)
    draws = [jittered.delay(n, rng) for n in range(200)]
    assert all(0 <= d <= 3.0 for d in draws) and len(set(draws)) == 200
    assert jittered.delay(0, random.Random(7)) == jittered.delay(0, random.Random(7))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"base_delay": -1}, "base_delay"),
        ({"max_delay": 0.1}, "max_delay"),
    ],
)
def test_bad_policies_name_the_field(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(ValueError, match=f"RetryPolicy.{field}"):
        RetryPolicy(**kwargs)


@pytest.mark.parametrize(
    "error",
    [
        ccxt.NetworkError("x"),
        ccxt.RequestTimeout("x"),
        ccxt.RateLimitExceeded("x"),
        ccxt.DDoSProtection("x"),
        ccxt.ExchangeNotAvailable("x"),
        ccxt.OnMaintenance("x"),
        ConnectionResetError("x"),
        TimeoutError("x"),
    ],
)
def test_transient_errors_are_retryable(error: BaseException) -> None:
    assert is_retryable(error)


@pytest.mark.parametrize(
    "error",
    [
        ccxt.BadSymbol("x"),
        ccxt.AuthenticationError("x"),
        ccxt.PermissionDenied("x"),
        ccxt.BadRequest("x"),
        ccxt.InsufficientFunds("x"),
        ccxt.ExchangeError("x"),
        ValueError("x"),
    ],
)
def test_permanent_errors_are_not(error: BaseException) -> None:
    assert not is_retryable(error)


def test_transient_failures_are_retried_with_the_policys_waits() -> None:
    fn, calls = _flaky([ccxt.RequestTimeout("slow"), ccxt.ExchangeNotAvailable("502")])
    sleeps: list[float] = []
    policy = RetryPolicy(max_attempts=3, base_delay=1.0, max_delay=10.0, jitter=False)
    assert call_with_retries(fn, policy, sleep=sleeps.append) == "ok"
    assert len(calls) == 3 and sleeps == [1.0, 2.0]


def test_a_permanent_error_propagates_unchanged_at_once() -> None:
    error = ccxt.BadSymbol("binance does not have market symbol NOPE/USDT")
    fn, calls = _flaky([error])
    sleeps: list[float] = []
    with pytest.raises(ccxt.BadSymbol) as raised:
        call_with_retries(fn, RetryPolicy(), sleep=sleeps.append)
    assert raised.value is error and len(calls) == 1 and sleeps == []


def test_running_out_of_attempts_raises_retry_error_from_the_last_error() -> None:
    last = ccxt.DDoSProtection("418")
    fn, calls = _flaky([ccxt.RequestTimeout("a"), ccxt.RequestTimeout("b"), last])
    with pytest.raises(
        RetryError, match="gave up after 3 attempts; last error: DDoSProtection: 418"
    ) as raised:
        call_with_retries(fn, RetryPolicy(max_attempts=3, base_delay=0), sleep=lambda _: None)
    assert (
        raised.value.last is last and raised.value.__cause__ is last and raised.value.attempts == 3
    )
    assert len(calls) == 3


def test_the_servers_retry_after_raises_the_wait_within_the_cap() -> None:
    fn, _ = _flaky([ccxt.RateLimitExceeded("429"), ccxt.RateLimitExceeded("429")])
    sleeps: list[float] = []
    policy = RetryPolicy(max_attempts=3, base_delay=0.1, max_delay=5.0, jitter=False)
    hints = iter([2.0, 60.0])
    call_with_retries(fn, policy, sleep=sleeps.append, min_delay=lambda _: next(hints))
    assert sleeps == [2.0, 5.0]


def test_custom_classification_for_other_callers() -> None:
    fn, calls = _flaky([KeyError("busy")])
    assert (
        call_with_retries(
            fn,
            RetryPolicy(base_delay=0),
            retry_on=lambda e: isinstance(e, KeyError),
            sleep=lambda _: None,
        )
        == "ok"
    )
    assert len(calls) == 2
