"""News event classes: rules over an item's title and summary, with the assets it concerns.

Classes (:data:`EVENT_CLASSES`), each a set of word patterns matched case-insensitively on
word boundaries in ``title + ". " + summary``:

- ``listing``: an exchange lists (or adds, launches trading of) an asset; *de*-listing is not
  a listing (it is ``regulation`` when a regulator forces it, else no class);
- ``hack``: hack, exploit, drained, breach, stolen, heist, rug pull, attacker, compromised;
- ``regulation``: SEC, CFTC, regulator/regulation, lawsuit, sued, ban, sanctions,
  enforcement, court, restraining order, legislation, bill, MiCA, delisting;
- ``partnership``: partner(ship), teams up, collaboration, alliance, integrates;
- ``upgrade``: upgrade, hard fork, mainnet, network update, goes live, activation.

An item may have several classes. The assets it concerns are its ``symbols`` (detected from
title + summary at ingest), re-detected here when the column is missing. An item that names
no asset concerns none and has no effect on any series.

:data:`EVENT_VALUES` is what a class says about the asset's price, in [-1, 1], used by the
``news`` input of :mod:`trading_core.signals`: listing +0.6 (listings are followed by
inflows), partnership +0.4, upgrade +0.3, regulation -0.4 (uncertainty, enforcement), hack
-1.0 (funds lost; the strongest and most reliable negative).
"""

from __future__ import annotations

import re

import pandas as pd

from trading_core.social.symbols import detect_symbols

EVENT_CLASSES: tuple[str, ...] = ("listing", "hack", "regulation", "partnership", "upgrade")
EVENT_VALUES: dict[str, float] = {
    "listing": 0.6,
    "hack": -1.0,
    "regulation": -0.4,
    "partnership": 0.4,
    "upgrade": 0.3,
}

_RULES: dict[str, re.Pattern[str]] = {
    name: re.compile(r"\b(?:" + "|".join(words) + r")\b", re.IGNORECASE)
    for name, words in {
        "listing": [
            r"(?<!de)list(?:s|ed|ing)",
            r"to list",
            r"adds? support for",
            r"launch(?:es|ed)? trading",
            r"now (?:available|tradable) on",
        ],
        "hack": [
            r"hack(?:s|ed|er|ers|ing)?",
            r"exploit(?:s|ed|er)?",
            r"drain(?:s|ed)?",
            r"breach(?:es|ed)?",
            r"stolen",
            r"heist",
            r"rug ?pull(?:s|ed)?",
            r"attacker(?:s)?",
            r"compromised",
        ],
        "regulation": [
            r"sec",
            r"cftc",
            r"regulat(?:or|ors|ory|ion|ions|e|es|ed)",
            r"lawsuit(?:s)?",
            r"sue(?:s|d)",
            r"ban(?:s|ned)?",
            r"sanction(?:s|ed)?",
            r"enforcement",
            r"court",
            r"restraining order",
            r"legislation",
            r"bill",
            r"mica",
            r"delist(?:s|ed|ing)?",
        ],
        "partnership": [
            r"partner(?:s|ship|ships|ed|ing)?",
            r"teams? up",
            r"collaborat(?:e|es|ed|ion|ing)",
            r"alliance",
            r"integrat(?:e|es|ed|ion)",
        ],
        "upgrade": [
            r"upgrade(?:s|d)?",
            r"hard ?fork(?:s)?",
            r"mainnet",
            r"network update",
            r"goes live",
            r"activat(?:es|ed|ion)",
        ],
    }.items()
}

EVENT_COLUMNS: list[str] = ["item_id", "published_at", "asset", "event_class", "title"]


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def classify_event(title: object, summary: object = None) -> tuple[str, ...]:
    """The event classes of one item, in :data:`EVENT_CLASSES` order (empty: no event)."""
    text = ". ".join(p for p in (_text(title), _text(summary)) if p)
    return tuple(name for name in EVENT_CLASSES if _RULES[name].search(text))


def news_events(items: pd.DataFrame) -> pd.DataFrame:
    """One row per (item, concerned asset, class) of ``items`` (``item_id``, ``published_at``,
    ``title``, optional ``summary`` and ``symbols``), in time order; :data:`EVENT_COLUMNS`."""
    missing = [c for c in ("item_id", "published_at", "title") if c not in items.columns]
    if missing:
        raise ValueError(f"news items lack columns {missing}; needed: item_id, published_at, title")
    rows: list[tuple[object, ...]] = []
    summaries = items["summary"] if "summary" in items else pd.Series(None, index=items.index)
    symbols = items["symbols"] if "symbols" in items else pd.Series(None, index=items.index)
    for item_id, published, title, summary, named in zip(
        items["item_id"], items["published_at"], items["title"], summaries, symbols, strict=True
    ):
        if pd.isna(published):
            continue
        classes = classify_event(title, summary)
        if not classes:
            continue
        if not isinstance(named, str) or not named.strip():
            named = detect_symbols(". ".join(p for p in (_text(title), _text(summary)) if p))
        assets = sorted({a.strip().upper() for a in (named or "").split(",") if a.strip()})
        rows.extend(
            (item_id, published, asset, cls, _text(title)) for asset in assets for cls in classes
        )
    out = pd.DataFrame(rows, columns=EVENT_COLUMNS)
    out["published_at"] = pd.to_datetime(out["published_at"]).astype("datetime64[us]")
    return out.sort_values(["published_at", "item_id", "asset", "event_class"]).reset_index(
        drop=True
    )
