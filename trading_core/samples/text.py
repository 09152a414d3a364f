"""Phrase banks for synthetic posts, tweets and headlines, written for this project.

Each bank has a bullish, a bearish and a neutral set, so the tone of a generated text follows
the day's mood and VADER has something to score. Slots: ``{name}`` (Bitcoin), ``{ticker}``
(BTC), ``{pct}`` (a percentage), ``{level}`` (a price level), ``{day}`` (a date).
"""

from __future__ import annotations

from typing import Literal

Tone = Literal["bull", "bear", "neutral"]

ASSETS: dict[str, str] = {
    "BTC": "Bitcoin",
    "ETH": "Ethereum",
    "SOL": "Solana",
    "XRP": "XRP",
    "DOGE": "Dogecoin",
    "ADA": "Cardano",
}

POST_TITLES: dict[Tone, tuple[str, ...]] = {
    "bull": (
        "{name} just reclaimed {level} and the chart looks great",
        "Finally some green: {ticker} up {pct}% today, love to see it",
        "Kept stacking {ticker} through the dip and I'm glad I did",
        "{name} network activity at a new high, strong fundamentals",
        "Optimistic about {name} this quarter, here's why",
        "Best week for {ticker} holders in a long time",
    ),
    "bear": (
        "{ticker} down {pct}% and my portfolio is a disaster",
        "This {name} dump is brutal, anyone else worried?",
        "Sold my {ticker} at a loss, feeling terrible about it",
        "Another exploit hits the {name} ecosystem, users panic",
        "{name} fees are awful right now, this is a problem",
        "Fear everywhere: {ticker} breaks below {level}",
    ),
    "neutral": (
        "Daily discussion thread for {day}",
        "How do you store your {ticker}? Wallet recommendations",
        "Summary of this week's {name} developer call",
        "Question about {name} transaction confirmations",
        "Where do you track {ticker} on-chain metrics?",
        "{name} upgrade timeline, what we know so far",
    ),
}

POST_BODIES: dict[Tone, tuple[str, ...]] = {
    "bull": (
        "Volume is healthy and the funding rate is calm. I think the trend is our friend here.",
        "Not financial advice, but the long-term picture for {name} has never looked better.",
        "Happy with my entries. Patience pays off in this market.",
    ),
    "bear": (
        "Liquidations everywhere. I should have set a stop-loss, lesson learned the hard way.",
        "I'm honestly scared this goes lower. The sentiment is awful and nobody is buying.",
        "Lost a lot on leverage this week. Please be careful out there.",
    ),
    "neutral": (
        "",
        "Curious how others approach this. Links to sources welcome.",
        "I read the docs but still have a few questions about how {name} handles this.",
    ),
}

TWEETS: dict[Tone, tuple[str, ...]] = {
    "bull": (
        "${ticker} breaking out, {pct}% up and volume rising. Great setup #{name} #crypto",
        "Bought more #{ticker} today. Feeling confident about {name} long term",
        "{name} holding {level} like a champ. Bullish! #crypto",
        "Love the strength in #{ticker} this week, buyers are back",
    ),
    "bear": (
        "${ticker} dumping {pct}% in an hour, this is ugly #{name}",
        "Terrible day for #{ticker} holders. Panic selling everywhere",
        "{name} lost {level}. Fear is back, be careful with leverage #crypto",
        "Another rug in the #{name} space. Sad and angry",
    ),
    "neutral": (
        "#{ticker} price update: {level}, {pct}% move in 24h #crypto",
        "Reading up on {name} staking and fees tonight",
        "What is everyone watching for ${ticker} this week?",
        "{name} on-chain data thread for {day}",
    ),
}

HEADLINES: dict[Tone, tuple[str, ...]] = {
    "bull": (
        "{name} climbs {pct}% as institutional demand returns",
        "{name} rally extends; analysts see strong support near {level}",
        "Inflows into {ticker} funds hit a multi-week high",
    ),
    "bear": (
        "{name} slides {pct}% as liquidations mount",
        "{ticker} falls below {level} amid regulatory worries",
        "Exchange outage and hack fears weigh on {name}",
    ),
    "neutral": (
        "{name} developers publish upgrade schedule",
        "What the latest on-chain data says about {name}",
        "{ticker} trading volume steady ahead of macro data",
    ),
}

SUMMARIES: dict[Tone, tuple[str, ...]] = {
    "bull": (
        "Buyers stepped in after a quiet week, and traders say momentum favours further gains.",
        "Positive flows and improving network activity lifted the market.",
    ),
    "bear": (
        "Sellers dominated the session and several large positions were liquidated.",
        "Concerns about regulation and security hurt sentiment across the market.",
    ),
    "neutral": (
        "The report covers recent network statistics and the roadmap for the coming months.",
        "Market participants are waiting for more data before taking positions.",
    ),
}
