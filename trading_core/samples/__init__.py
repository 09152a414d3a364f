"""Small embedded offline samples, written by this project, for the no-network default.

:func:`ensure_samples` writes the last ``days`` days of synthetic Reddit posts, tweets and news
items, and the last year of daily on-chain values for BTC, ETH and SOL, under one directory in
the layouts of ``../shared/data`` (``social/``, ``news/``, ``onchain/``), so the default run
reads them through the same replay backends as real data. Nothing here is copied from
``../shared/data``.

Deterministic: a day's content depends only on ``seed`` and that day; timestamps are relative
to ``now`` (default: the current time), and nothing later than ``now`` is written, so calling
it again later adds what has "happened" since and leaves earlier rows identical.
"""

from trading_core.samples.writer import SampleSet, ensure_samples

__all__ = ["SampleSet", "ensure_samples"]
