"""Asset mentions: names, tickers, cashtags, hashtags; words that only look like tickers."""

from __future__ import annotations

import pytest

from trading_core.social.symbols import detect_symbols, mentioned_assets


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Bitcoin just broke out", "BTC"),
        ("bitcoins and ethereum", "BTC,ETH"),
        ("$btc #ETH $Sol", "BTC,ETH,SOL"),
        ("#BitcoinMining is booming", "BTC"),
        ("#dogecointoadollar", "DOGE"),
        ("Sold my SOL and ADA", "ADA,SOL"),
        ("solana fees are tiny", "SOL"),
        ("Ripple wins in court, XRP up", "XRP"),
        ("Shiba Inu burns", "SHIB"),
        ("BTC/USDT at 90k", "BTC"),
        ("Cardano, Polkadot and Chainlink", "ADA,DOT,LINK"),
    ],
)
def test_detects_the_assets_a_text_names(text: str, expected: str) -> None:
    assert detect_symbols(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "link in bio, dot dot dot, uni campus",  # common words, not capitals
        "sol y sombra",
        "Edit: OP here, thanks",  # Reddit's original poster
        "I lost a TON of money",
        "an avalanche of sell orders, stellar quarter, market optimism",
        "whether or not",
        "",
        None,
    ],
)
def test_ordinary_words_are_not_mentions(text: str | None) -> None:
    assert detect_symbols(text) is None
    assert mentioned_assets(text) == []


def test_tag_only_tickers_count_as_cashtags() -> None:
    assert detect_symbols("$TON and #OP are moving") == "OP,TON"
