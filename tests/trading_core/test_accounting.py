"""The accounting core: average cost, gross/net realized P&L, fees in base, quote or BNB."""

from __future__ import annotations

import math
import random

import pytest

from trading_core.accounting import (
    AccountingError,
    Applied,
    Book,
    Execution,
    apply_execution,
    fee_in_quote,
)


def run(fills: list[Execution], base: str = "BTC", quote: str = "USDT") -> list[Applied]:
    book, out = Book(), []
    for e in fills:
        applied = apply_execution(book, e, base, quote)
        out.append(applied)
        book = applied.book
    return out


def test_a_round_trip_with_quote_fees_keeps_gross_and_net_apart() -> None:
    buy, add, sell = run(
        [
            Execution("buy", 1.0, 100.0, fee=0.1),
            Execution("buy", 1.0, 120.0, fee=0.12, fee_currency="USDT"),
            Execution("sell", 1.5, 130.0, fee=0.195),
        ]
    )
    assert buy.base_delta == 1.0 and buy.quote_delta == pytest.approx(-100.1)
    assert add.book.average_cost == pytest.approx(110.0)
    assert sell.realized_gross == pytest.approx(1.5 * 20.0)
    assert sell.realized_net == pytest.approx(30.0 - 0.195)
    assert sell.book.quantity == pytest.approx(0.5)
    assert sell.book.average_cost == pytest.approx(110.0)
    assert sell.book.realized_gross == pytest.approx(30.0)
    assert sell.book.fees_quote == pytest.approx(0.1 + 0.12 + 0.195)
    assert sell.book.realized_net == pytest.approx(30.0 - 0.415)
    assert sell.fee_asset == "USDT"


def test_a_fee_in_base_reduces_what_a_buy_receives_and_adds_to_what_a_sell_delivers() -> None:
    buy, sell = run(
        [
            Execution("buy", 1.0, 100.0, fee=0.001, fee_currency="BTC"),
            Execution("sell", 0.5, 110.0, fee=0.0005, fee_currency="BTC"),
        ]
    )
    assert buy.base_delta == pytest.approx(0.999) and buy.quote_delta == pytest.approx(-100.0)
    assert buy.book.quantity == pytest.approx(0.999)
    assert buy.book.average_cost == pytest.approx(100.0)  # gross of fees
    assert buy.fee_quote == pytest.approx(0.1) and buy.fee_asset == "BTC"
    assert buy.realized_net == pytest.approx(-0.1)
    assert sell.base_delta == pytest.approx(-0.5005) and sell.quote_delta == pytest.approx(55.0)
    assert sell.book.quantity == pytest.approx(0.999 - 0.5005)
    # the 0.0005 BTC given up as the fee was worth 110, bought at 100: its gain is realized
    assert sell.realized_gross == pytest.approx(0.5005 * 10.0)
    assert sell.fee_quote == pytest.approx(0.055)


def test_a_fee_in_bnb_moves_neither_base_nor_quote_and_is_valued_at_its_price() -> None:
    (buy,) = run([Execution("buy", 1.0, 100.0, fee=0.0002, fee_currency="BNB", fee_price=500.0)])
    assert buy.base_delta == 1.0 and buy.quote_delta == -100.0
    assert buy.fee_quote == pytest.approx(0.1) and buy.fee_asset == "BNB"
    assert buy.book.fees_quote == pytest.approx(0.1)
    assert buy.realized_net == pytest.approx(-0.1)


@pytest.mark.parametrize("fee_price", [None, math.nan, math.inf, 0.0, -1.0, "500"])
def test_a_bnb_fee_without_a_usable_price_is_refused_naming_fee_price(fee_price: object) -> None:
    e = Execution("buy", 1.0, 100.0, fee=0.0002, fee_currency="BNB", fee_price=fee_price)  # type: ignore[arg-type]
    with pytest.raises(AccountingError, match="fee_price"):
        apply_execution(Book(), e, "BTC", "USDT")
    with pytest.raises(AccountingError, match="fee_price"):
        fee_in_quote(e, "BTC", "USDT")


def test_a_zero_fee_in_a_third_currency_needs_no_price() -> None:
    e = Execution("buy", 1.0, 100.0, fee=0.0, fee_currency="BNB")
    assert fee_in_quote(e, "BTC", "USDT") == 0.0
    assert apply_execution(Book(), e, "BTC", "USDT").fee_asset == "BNB"


def test_fee_in_quote_for_each_currency() -> None:
    assert fee_in_quote(Execution("buy", 2.0, 50.0, fee=0.1), "ETH", "USDT") == 0.1
    assert fee_in_quote(
        Execution("sell", 2.0, 50.0, fee=0.002, fee_currency="ETH"), "ETH", "USDT"
    ) == pytest.approx(0.1)


def test_a_short_realizes_when_covered_and_a_flip_opens_the_remainder_at_the_fill_price() -> None:
    short, flip, close = run(
        [
            Execution("sell", 2.0, 100.0),
            Execution("buy", 3.0, 90.0, fee=0.27),
            Execution("sell", 1.0, 95.0),
        ]
    )
    assert short.book.quantity == -2.0 and short.book.average_cost == 100.0
    assert flip.realized_gross == pytest.approx(20.0)
    assert flip.book.quantity == pytest.approx(1.0) and flip.book.average_cost == 90.0
    assert close.realized_gross == pytest.approx(5.0)
    assert close.book.quantity == 0.0 and close.book.average_cost == 0.0
    assert close.book.realized_net == pytest.approx(25.0 - 0.27)


def test_a_base_fee_on_a_cover_leaves_a_short_remainder() -> None:
    _, cover = run(
        [Execution("sell", 1.0, 100.0), Execution("buy", 1.0, 90.0, fee=0.001, fee_currency="BTC")]
    )
    assert cover.book.quantity == pytest.approx(-0.001)
    assert cover.book.average_cost == 100.0
    assert cover.realized_gross == pytest.approx(0.999 * 10.0)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("quantity", math.nan),
        ("quantity", math.inf),
        ("quantity", -1.0),
        ("quantity", 0.0),
        ("quantity", "1"),
        ("price", math.nan),
        ("price", -5.0),
        ("price", 0.0),
        ("price", None),
        ("fee", math.nan),
        ("fee", -0.1),
        ("fee", math.inf),
        ("side", "long"),
        ("side", None),
        ("fee_currency", ""),
        ("fee_currency", 5),
    ],
)
def test_hostile_fills_are_refused_naming_the_field(field: str, value: object) -> None:
    fields: dict[str, object] = {"side": "buy", "quantity": 1.0, "price": 100.0, "fee": 0.1}
    fields[field] = value
    with pytest.raises(AccountingError, match=field):
        apply_execution(Book(), Execution(**fields), "BTC", "USDT")  # type: ignore[arg-type]


def test_a_huge_fill_is_accounted_without_overflow() -> None:
    (buy,) = run([Execution("buy", 1e12, 1e9, fee=1e18)])
    assert buy.quote_delta == pytest.approx(-1e21 - 1e18)
    assert math.isfinite(buy.book.average_cost)


def test_a_base_fee_as_large_as_the_quantity_bought_is_refused() -> None:
    with pytest.raises(AccountingError, match="fee"):
        apply_execution(Book(), Execution("buy", 1.0, 100.0, 1.0, "BTC"), "BTC", "USDT")


@pytest.mark.parametrize(
    ("book", "field"),
    [
        (Book(quantity=math.nan), "book.quantity"),
        (Book(average_cost=-1.0), "book.average_cost"),
        (Book(realized_gross=math.inf), "book.realized_gross"),
        (Book(fees_quote=-1.0), "book.fees_quote"),
    ],
)
def test_a_broken_book_is_refused_naming_the_field(book: Book, field: str) -> None:
    with pytest.raises(AccountingError, match=field):
        apply_execution(book, Execution("buy", 1.0, 100.0), "BTC", "USDT")


@pytest.mark.parametrize(("base", "quote"), [("", "USDT"), ("BTC", None), ("BTC", "BTC")])
def test_bad_currencies_are_refused(base: str, quote: str) -> None:
    with pytest.raises(AccountingError, match=r"base|quote"):
        apply_execution(Book(), Execution("buy", 1.0, 100.0), base, quote)


@pytest.mark.parametrize("fee_currency", ["USDT", "BTC", "BNB"])
def test_cash_plus_holdings_equal_realized_net_plus_unrealized(fee_currency: str) -> None:
    """Conservation over random fills: at any mark price, the change of quote cash, the base
    holdings' value and (for BNB) the value of the BNB paid equal realized net + unrealized."""
    rng = random.Random(11)
    book, cash, held, bnb = Book(), 0.0, 0.0, 0.0
    for _ in range(400):
        price = rng.uniform(50.0, 150.0)
        side = rng.choice(["buy", "sell"])
        quantity = rng.uniform(0.01, 2.0)
        fee_rate = 0.001
        fee = {
            "USDT": quantity * price * fee_rate,
            "BTC": quantity * fee_rate,
            "BNB": quantity * price * fee_rate / 400.0,
        }[fee_currency]
        e = Execution(side, quantity, price, fee, fee_currency, 400.0)
        applied = apply_execution(book, e, "BTC", "USDT")
        book = applied.book
        cash += applied.quote_delta
        held += applied.base_delta
        if applied.fee_asset == "BNB":
            bnb -= fee
        assert book.quantity == pytest.approx(held, abs=1e-9)
        mark = rng.uniform(50.0, 150.0)
        wealth = cash + held * mark + bnb * 400.0
        books = book.realized_net + (mark - book.average_cost) * book.quantity
        assert wealth == pytest.approx(books, abs=1e-7)
    assert book.fees_quote > 0
