"""Which crypto assets a piece of text mentions, as base tickers (``"BTC,ETH"``).

Four ways a text names an asset, matched on word boundaries:
- names, any case: "bitcoin", "Ethereum", "solana" (a trailing plural "s" is allowed);
- cashtags and hashtags, any case: "$btc", "#SOL", and hashtags that start with a name
  ("#bitcoinmining", "#dogecointoadollar");
- tickers that are not English words, any case: "btc", "Eth", "xrp";
- tickers that are also common words ("SOL", "ADA", "DOT", "LINK", "UNI"): only when written
  in capitals, so "link", "dot" and "uni" in prose are not mentions;
- tickers that are common even in capitals ("OP" is Reddit's "original poster", "a TON of"):
  only as cashtags or hashtags.
Names that are everyday English ("avalanche", "stellar", "optimism") are deliberately not
listed: news prose uses them far more often for other things.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# ticker -> names (lower case) that refer to it. Tickers are matched as listed below.
ASSET_NAMES: dict[str, tuple[str, ...]] = {
    "BTC": ("bitcoin", "xbt"),
    "ETH": ("ethereum", "ether"),
    "SOL": ("solana",),
    "XRP": ("ripple",),
    "ADA": ("cardano",),
    "DOGE": ("dogecoin",),
    "BNB": ("binance coin",),
    "DOT": ("polkadot",),
    "AVAX": (),
    "LINK": ("chainlink",),
    "LTC": ("litecoin",),
    "POL": ("polygon", "matic"),
    "UNI": ("uniswap",),
    "TRX": ("tron",),
    "SHIB": ("shiba inu", "shiba"),
    "TON": ("toncoin",),
    "OP": (),
    "XLM": (),
}

# Tickers that are ordinary words count only in capitals; some only as cashtags/hashtags.
CAPITALS_ONLY: frozenset[str] = frozenset({"SOL", "ADA", "DOT", "LINK", "UNI"})
TAGS_ONLY: frozenset[str] = frozenset({"OP", "TON"})

_LOOKUP: dict[str, str] = {
    name: ticker for ticker, names in ASSET_NAMES.items() for name in names
} | {
    ticker.lower(): ticker
    for ticker in ASSET_NAMES
    if ticker not in CAPITALS_ONLY and ticker not in TAGS_ONLY
}


def _alternation(words: Iterable[str]) -> str:
    # Longest first so "shiba inu" wins over "shiba".
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


_ANY_CASE = re.compile(rf"(?<![\w$#])({_alternation(_LOOKUP)})s?\b", re.IGNORECASE)
_CAPITALS = re.compile(rf"(?<![\w$#])({_alternation(CAPITALS_ONLY)})\b")
_TAG = re.compile(r"[$#]([A-Za-z][A-Za-z0-9_]{0,30})")
_TAG_PREFIXES = sorted(
    ((name.replace(" ", ""), ticker) for ticker, names in ASSET_NAMES.items() for name in names),
    key=lambda pair: len(pair[0]),
    reverse=True,
)


def _tag_ticker(tag: str) -> str | None:
    upper = tag.upper()
    if upper in ASSET_NAMES:
        return upper
    lower = tag.lower()
    for prefix, ticker in _TAG_PREFIXES:
        if lower.startswith(prefix):
            return ticker
    return None


def mentioned_assets(text: str | None) -> list[str]:
    """The tickers ``text`` mentions, sorted; empty for no text (None, NaN, blank)."""
    if not isinstance(text, str) or not text:
        return []
    found = {_LOOKUP[m.group(1).lower()] for m in _ANY_CASE.finditer(text)}
    found.update(m.group(1) for m in _CAPITALS.finditer(text))
    for m in _TAG.finditer(text):
        ticker = _tag_ticker(m.group(1))
        if ticker:
            found.add(ticker)
    return sorted(found)


def detect_symbols(text: str | None) -> str | None:
    """Comma-separated tickers ``text`` mentions (``"BTC,ETH"``), or None when it names none.

    None rather than an empty string, so SQL ``string_split``/``unnest`` yields no rows.
    """
    return ",".join(mentioned_assets(text)) or None
