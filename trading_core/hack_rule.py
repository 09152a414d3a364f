"""The hack/exploit rule: react to a hack or exploit news event about an asset held.

``news.hack_rule`` in the configuration chooses the reaction:
- ``alert`` (default): a ``critical`` alert per (news item, held symbol);
- ``force-exit``: the same alert, and a ``force-exit SYMBOL`` operator command recorded in the
  ledger exactly as ``trading control force-exit`` records it
  (``executor.override_ledger.issue``: checked the same way, audited, applied by the
  executor at its next tick; the executor itself never reads the warehouse);
- ``off``: nothing.

An event counts while it is younger than ``news.hack_window_hours`` (24 h). Events are the
news items whose title/summary classify as ``hack`` (:mod:`trading_core.news_events`) and
the assets they concern; a held symbol is concerned when its base asset is one of them.
A command the executor would refuse (a force-exit of the same symbol already pending, the
position gone meanwhile) is not an error: it is reported in the outcome and alerted once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from trading_core.news_events import news_events

WHO = "dagster:hack_rule"


@dataclass(frozen=True)
class HackHit:
    item_id: str
    asset: str
    symbol: str
    title: str
    published_at: datetime

    @property
    def key(self) -> str:
        return f"hack:{self.item_id}:{self.symbol}"


def hack_hits(
    news: pd.DataFrame, held: list[str], now: datetime, window: timedelta
) -> list[HackHit]:
    """The (hack event, held symbol) pairs among ``news`` items published in
    ``(now - window, now]``; ``held`` are unified symbols (``BTC/USDT``)."""
    recent = news[
        (pd.to_datetime(news["published_at"]) > pd.Timestamp(now - window))
        & (pd.to_datetime(news["published_at"]) <= pd.Timestamp(now))
    ]
    found = news_events(recent)
    found = found[found["event_class"] == "hack"]
    by_asset: dict[str, list[str]] = {}
    for symbol in sorted(set(held)):
        by_asset.setdefault(symbol.split("/")[0].upper(), []).append(symbol)
    return [
        HackHit(str(e.item_id), e.asset, symbol, e.title, pd.Timestamp(e.published_at))
        for e in found.itertuples(index=False)
        for symbol in by_asset.get(e.asset, [])
    ]


def apply_hack_rule(
    hits: list[HackHit],
    action: str,
    alert: Callable[[str, str, str, str], Any],
    force_exit: Callable[[HackHit], int],
) -> list[dict[str, Any]]:
    """Alert (``alert(severity, title, message, key)``) and, under ``force-exit``, call
    ``force_exit(hit)`` (records the command, returns its id; raises ``ValueError`` when
    refused). One outcome record per hit."""
    if action not in ("off", "alert", "force-exit"):
        raise ValueError(f"news.hack_rule must be one of off, alert, force-exit; got {action!r}")
    outcomes: list[dict[str, Any]] = []
    if action == "off":
        return outcomes
    for hit in hits:
        outcome: dict[str, Any] = {"key": hit.key, "symbol": hit.symbol, "title": hit.title}
        message = f"hack/exploit news about {hit.asset} while holding {hit.symbol}: {hit.title}"
        if action == "force-exit":
            try:
                outcome["command_id"] = force_exit(hit)
                message += " - force-exit sent to the executor"
            except ValueError as err:
                outcome["refused"] = str(err)
                message += f" - force-exit refused: {err}"
        alert("critical", "news", message, hit.key)
        outcomes.append(outcome)
    return outcomes
