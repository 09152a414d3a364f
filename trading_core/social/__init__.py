"""Social and text sources: Reddit (praw | replay), X (tweepy | replay), sentiment, symbols.

Modules: ``reddit`` and ``x`` (backends), ``sentiment`` (VADER), ``symbols`` (asset mentions),
``results`` (what backends return, rejects for ``raw.quarantine``), ``times`` (UTC conversion),
``jsonlines`` (replay files), ``http_session`` (retrying sessions), ``credentials`` (from the
environment). ``trading_core.news`` and ``trading_core.onchain`` build on the same pieces.
"""
