"""Fees in the base asset and in BNB, through the engine + paper broker and through the ccxt
broker against the fake Binance: positions, cash and realized gross/net stay consistent.

Conservation, checked at every step: quote cash + position value at a mark price + the fee
currency's cash at its price == starting cash + realized_pnl_net + unrealized P&L.
"""

from __future__ import annotations

from datetime import timedelta

import pydantic
import pytest
import sqlalchemy as sa

from executor import schema
from executor.brokers.ccxt_broker import CcxtBroker
from executor.brokers.paper import PaperBroker
from executor.engine import Engine, EngineOptions
from executor.ledger import Ledger
from executor.orders import OrderState
from executor.reconcile import Reconciler
from executor.records import NewOrder, Position
from tests.executor.helpers import T0, Clock, StubMarket, make_intent
from tests.fakes.binance_server import FakeBinance, make_ccxt_client
from trading_core.config import FeesConfig, TradingConfig
from trading_core.config_fees import PaperFeeCurrency
from trading_core.retry import RetryPolicy

RATE = 0.001
BNB_PRICE = 500.0
CONFIG = TradingConfig.model_validate(
    {
        "executor": {"starting_cash": 1000.0, "exchange": "sim"},
        "risk": {"position_fraction": 0.5, "max_notional": 400.0, "min_notional": 5.0},
        "fees": {"maker": RATE, "taker": RATE},
    }
)


def fills_fee_quote(ledger: Ledger) -> list[float | None]:
    with ledger.transaction() as conn:
        return list(
            conn.execute(sa.select(schema.fills.c.fee_quote).order_by(schema.fills.c.id)).scalars()
        )


def assert_books_balance(
    ledger: Ledger, exchange: str, start: float, mark: float, fee_asset: str | None
) -> Position:
    """Cash + holdings (+ the fee asset) equal start + realized net + unrealized."""
    (pos,) = [p for p in ledger.positions() if p.exchange == exchange]
    wealth = ledger.cash("USDT", exchange) + pos.quantity * mark
    if fee_asset is not None:
        wealth += ledger.cash(fee_asset, exchange) * BNB_PRICE
    books = start + pos.realized_pnl_net + (mark - pos.avg_entry_price) * pos.quantity
    assert wealth == pytest.approx(books, abs=1e-9)
    assert pos.realized_pnl_net == pytest.approx(pos.realized_pnl_gross - pos.fees_quote)
    assert pos.fees_quote == pytest.approx(sum(f or 0.0 for f in fills_fee_quote(ledger)))
    return pos


# ------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"currency": "BNB"}, "price"),
        ({"currency": "BNB", "price": float("nan")}, "price"),
        ({"currency": "BNB", "price": -1.0}, "price"),
        ({"currency": "BNB", "price": 0.0}, "price"),
        ({"currency": "BNB", "price": "lots"}, "price"),
        ({"currency": "quote", "price": 500.0}, "price"),
        ({"currency": "bnb", "price": 500.0}, "currency"),
        ({"currency": "", "price": 500.0}, "currency"),
        ({"currency": "quote", "rate": 0.1}, "rate"),
    ],
)
def test_a_bad_paper_fee_currency_is_refused_naming_the_field(fields: dict, named: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=named):
        TradingConfig.model_validate({"executor": {"paper_fee_currency": fields}})


def test_the_paper_fee_currency_is_configured_on_the_executor() -> None:
    config = TradingConfig.model_validate(
        {"executor": {"paper_fee_currency": {"currency": "BNB", "price": 612.5}}}
    )
    assert config.executor.paper_fee_currency == PaperFeeCurrency(currency="BNB", price=612.5)
    assert TradingConfig().executor.paper_fee_currency.currency == "quote"


def test_the_fee_asset_of_each_setting() -> None:
    base = PaperFeeCurrency(currency="base")
    assert (base.asset("BTC/USDT", "buy"), base.asset("BTC/USDT", "sell")) == ("BTC", "USDT")
    assert base.fee("BTC/USDT", "buy", 2.0, 100.0, RATE) == pytest.approx(0.002)
    bnb = PaperFeeCurrency(currency="BNB", price=BNB_PRICE)
    assert bnb.fee("BTC/USDT", "sell", 2.0, 100.0, RATE) == pytest.approx(0.2 / BNB_PRICE)
    assert bnb.asset("BNB/USDT", "buy") == "BNB"  # the base itself: a fee in base
    assert bnb.fee("BNB/USDT", "buy", 2.0, 100.0, RATE) == pytest.approx(0.002)


# ------------------------------------------------------------------ engine + paper broker


class Rig:
    def __init__(self, url: str, fee_currency: PaperFeeCurrency):
        self.clock = Clock()
        self.market = StubMarket(self.clock)
        self.market.set_book("BTC/USDT", 100.0, amount=1000.0)
        self.ledger = Ledger(url, clock=self.clock)
        broker = PaperBroker(
            self.market, exchange="sim", fees=CONFIG.fees, clock=self.clock,
            fee_currency=fee_currency,
        )  # fmt: skip
        self.engine = Engine(
            self.ledger, broker, self.market, CONFIG, EngineOptions(), clock=self.clock
        )
        self.engine.start()

    def tick(self) -> None:
        self.clock.advance(minutes=1)
        self.engine.tick()


@pytest.mark.parametrize(
    ("setting", "entry_fee_asset", "exit_fee_asset", "fee_asset_cash"),
    [
        (PaperFeeCurrency(), "USDT", "USDT", None),
        (PaperFeeCurrency(currency="base"), "BTC", "USDT", None),
        (PaperFeeCurrency(currency="BNB", price=BNB_PRICE), "BNB", "BNB", "BNB"),
    ],
    ids=["quote", "base", "bnb"],
)
def test_engine_and_paper_broker_account_a_round_trip_in_each_fee_currency(
    sqlite_url: str,
    setting: PaperFeeCurrency,
    entry_fee_asset: str,
    exit_fee_asset: str,
    fee_asset_cash: str | None,
) -> None:
    rig = Rig(sqlite_url, setting)
    rig.ledger.add_intents([make_intent(notional=200.0)])
    rig.tick()
    [entry] = rig.ledger.fills_since()
    assert entry.fee_currency == entry_fee_asset
    assert entry.fee_price == (BNB_PRICE if fee_asset_cash else None)
    pos = assert_books_balance(rig.ledger, "sim", 1000.0, 100.0, fee_asset_cash)
    received = entry.quantity - (entry.fee if entry_fee_asset == "BTC" else 0.0)
    assert pos.quantity == pytest.approx(received)
    assert pos.avg_entry_price == pytest.approx(entry.price)  # gross of fees
    assert pos.fees_quote == pytest.approx(entry.quantity * entry.price * RATE)
    assert pos.realized_pnl_gross == 0.0
    assert_books_balance(rig.ledger, "sim", 1000.0, 93.0, fee_asset_cash)

    rig.market.set_book("BTC/USDT", 110.0, amount=1000.0)
    rig.ledger.add_intents([make_intent(action="close", bar_ts=T0 + timedelta(minutes=1))])
    rig.tick()
    [_, exit_fill] = rig.ledger.fills_since()
    assert exit_fill.fee_currency == exit_fee_asset
    assert exit_fill.quantity == pytest.approx(pos.quantity, abs=1e-8)  # all of what is held
    pos = assert_books_balance(rig.ledger, "sim", 1000.0, 110.0, fee_asset_cash)
    assert abs(pos.quantity) < 1e-8  # at most a lot-step of dust from the base fee
    gross = (exit_fill.price - entry.price) * exit_fill.quantity
    assert pos.realized_pnl_gross == pytest.approx(gross, rel=1e-9)
    fees = (entry.quantity * entry.price + exit_fill.quantity * exit_fill.price) * RATE
    assert pos.fees_quote == pytest.approx(fees)
    assert pos.realized_pnl_net == pytest.approx(gross - fees)
    if fee_asset_cash:
        assert rig.ledger.cash("USDT", "sim") == pytest.approx(1000.0 + gross)
        assert rig.ledger.cash("BNB", "sim") == pytest.approx(-fees / BNB_PRICE)
    else:
        assert rig.ledger.cash("USDT", "sim") == pytest.approx(
            1000.0 + pos.realized_pnl_net + pos.quantity * pos.avg_entry_price
        )
    assert rig.ledger.fee_issues() == []


# ------------------------------------------------------------- ccxt broker + fake Binance

FAST = RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.01, jitter=False)
START = {"USDT": 10_000.0, "BTC": 0.0, "BNB": 1.0}


@pytest.fixture
def fake() -> FakeBinance:
    with FakeBinance(balances=START, hang_seconds=2.0) as server:
        server.set_order_book(
            "BTCUSDT", bids=[(30_000, 1.0), (29_990, 2.0)], asks=[(30_010, 0.2), (30_020, 2.0)]
        )
        yield server
        assert server.internal_errors == []


def trade(ledger: Ledger, broker: CcxtBroker, cid: str, side: str, quantity: float) -> None:
    order = ledger.create_order(
        NewOrder(client_order_id=cid, exchange="binance", symbol="BTC/USDT", side=side,
                 order_type="market", role="entry" if side == "buy" else "exit",
                 quantity=quantity)
    )  # fmt: skip
    snap = broker.submit(order)
    assert snap.update.state == OrderState.FILLED
    ledger.apply_order_update(cid, snap.update, snap.fills)


def assert_ledger_matches_the_exchange(ledger: Ledger, fake: FakeBinance) -> None:
    held = {a: float(v["free"]) + float(v["locked"]) for a, v in fake.balances().items()}
    pos = ledger.position("binance", "BTC/USDT")
    assert held["BTC"] == pytest.approx(pos.quantity, abs=1e-12)
    assert held["USDT"] == pytest.approx(ledger.cash("USDT", "binance"), abs=1e-9)
    assert held["BNB"] == pytest.approx(START["BNB"] + ledger.cash("BNB", "binance"), abs=1e-12)


@pytest.mark.integration
@pytest.mark.parametrize("asset", ["received", "BNB"])
def test_ccxt_broker_fills_with_commission_in_base_or_bnb_keep_the_ledger_on_the_exchange(
    sqlite_url: str, fake: FakeBinance, asset: str
) -> None:
    fake.add_symbol("BNB", "USDT", "0.01", "0.001")
    fake.set_price("BNBUSDT", BNB_PRICE)
    fake.set_commission_asset(asset)
    broker = CcxtBroker(make_ccxt_client(fake.url, timeout=500), fees=FeesConfig(), retry=FAST)
    ledger = Ledger(sqlite_url, mode="live")
    reconciler = Reconciler(ledger, broker, symbols=["BTC/USDT"])
    assert reconciler.run().ok  # the baseline: 10,000 USDT, 1 BNB, no BTC
    assert ledger.cash("USDT", "binance") == START["USDT"]

    trade(ledger, broker, "cid-buy", "buy", 0.3)  # two levels: 0.2 @ 30,010 and 0.1 @ 30,020
    buys = ledger.fills_since()
    assert [f.fee_currency for f in buys] == (["BTC", "BTC"] if asset == "received" else
                                              ["BNB", "BNB"])  # fmt: skip
    assert [f.fee_price for f in buys] == ([None, None] if asset == "received" else
                                           [BNB_PRICE, BNB_PRICE])  # fmt: skip
    assert_ledger_matches_the_exchange(ledger, fake)
    pos = assert_books_balance(ledger, "binance", START["USDT"], 30_000.0, _fee_cash(asset))
    cost = 0.2 * 30_010 + 0.1 * 30_020
    assert pos.avg_entry_price == pytest.approx(cost / 0.3)
    assert pos.fees_quote == pytest.approx(cost * RATE, rel=1e-6)  # commission rounded to 1e-8

    fake.set_order_book("BTCUSDT", bids=[(31_000, 5.0)], asks=[(31_010, 5.0)])
    trade(ledger, broker, "cid-sell", "sell", round(pos.quantity, 5))
    assert_ledger_matches_the_exchange(ledger, fake)
    after = assert_books_balance(ledger, "binance", START["USDT"], 31_000.0, _fee_cash(asset))
    sold = round(pos.quantity, 5)
    assert after.realized_pnl_gross == pytest.approx((31_000 - cost / 0.3) * sold)
    assert after.fees_quote == pytest.approx((cost + 31_000 * sold) * RATE, rel=1e-6)
    assert ledger.fee_issues() == []
    report = reconciler.run()  # the exchange's BTC equals baseline + the ledger's position
    assert report.ok and report.mismatches == [], report
    ledger.close()


def _fee_cash(asset: str) -> str | None:
    return "BNB" if asset == "BNB" else None


@pytest.mark.integration
def test_a_bnb_fee_with_no_bnb_market_is_recorded_and_flagged_never_taken_for_usdt(
    sqlite_url: str, fake: FakeBinance
) -> None:
    fake.set_commission_asset("BNB", price=BNB_PRICE)  # the exchange knows; ccxt cannot ask
    broker = CcxtBroker(make_ccxt_client(fake.url, timeout=500), fees=FeesConfig(), retry=FAST)
    ledger = Ledger(sqlite_url, mode="live")
    ledger.ensure_account("binance", "USDT", START["USDT"])
    trade(ledger, broker, "cid-buy", "buy", 0.1)
    [fill] = ledger.fills_since()
    assert (fill.fee_currency, fill.fee_price) == ("BNB", None) and fill.fee > 0
    pos = ledger.position("binance", "BTC/USDT")
    assert pos.quantity == pytest.approx(0.1)
    assert pos.fees_quote == 0.0 and pos.realized_pnl_net == 0.0  # not counted as USDT
    assert ledger.cash("USDT", "binance") == pytest.approx(START["USDT"] - 0.1 * 30_010)
    assert_ledger_matches_the_exchange(ledger, fake)
    [issue] = ledger.fee_issues()
    assert issue["fee_currency"] == "BNB" and "fee_price" in issue["fee_issue"]
    assert fills_fee_quote(ledger) == [None]
    [audit] = ledger.audit_entries("fee_unvalued")
    assert audit["details"]["trade_id"] == fill.trade_id
    ledger.close()


# ----------------------------------------------------------------- hostile fills in ledger


@pytest.mark.parametrize(
    ("field", "value"),
    [("quantity", float("nan")), ("price", -1.0), ("fee", float("inf")), ("side", "hold")],
)
def test_a_hostile_fill_is_refused_naming_the_field_and_nothing_is_recorded(
    ledger_url: str, field: str, value: object
) -> None:
    from executor.records import Fill
    from trading_core.accounting import AccountingError

    fields: dict[str, object] = {
        "exchange": "sim", "trade_id": "t1", "symbol": "BTC/USDT", "side": "buy",
        "quantity": 1.0, "price": 100.0, "fee": 0.1, "fee_currency": "USDT",
        "liquidity": "taker", "event_time": T0,
    }  # fmt: skip
    fields[field] = value
    ledger = Ledger(ledger_url)
    with pytest.raises(AccountingError, match=field):
        ledger.record_fills([Fill(**fields)])  # type: ignore[arg-type]
    assert ledger.fill_count() == 0 and ledger.positions() == []
    ledger.close()


def test_a_duplicate_bnb_fill_moves_the_bnb_cash_once(ledger_url: str) -> None:
    from executor.records import Fill

    fill = Fill("sim", "t1", "BTC/USDT", "buy", 1.0, 100.0, 0.0002, "BNB", "taker", T0,
                fee_price=BNB_PRICE)  # fmt: skip
    ledger = Ledger(ledger_url)
    assert ledger.record_fills([fill, fill]) == 1
    assert ledger.cash("BNB", "sim") == pytest.approx(-0.0002)
    assert ledger.cash("USDT", "sim") == pytest.approx(-100.0)
    assert ledger.position("sim", "BTC/USDT").fees_quote == pytest.approx(0.1)
    assert fills_fee_quote(ledger) == [pytest.approx(0.1)]
    ledger.close()


@pytest.mark.parametrize("fee_price", [float("nan"), float("inf"), 0.0, -3.0])
def test_a_bnb_fill_with_an_unusable_price_is_recorded_and_flagged(
    sqlite_url: str, fee_price: float
) -> None:
    from executor.records import Fill

    fill = Fill("sim", "t1", "BTC/USDT", "sell", 1.0, 100.0, 0.0002, "BNB", "taker", T0,
                fee_price=fee_price)  # fmt: skip
    ledger = Ledger(sqlite_url)
    assert ledger.record_fills([fill]) == 1
    pos = ledger.position("sim", "BTC/USDT")
    assert pos.quantity == -1.0 and pos.fees_quote == 0.0
    assert ledger.cash("USDT", "sim") == pytest.approx(100.0)
    [issue] = ledger.fee_issues()
    assert "fee_price" in issue["fee_issue"]
    ledger.close()
