"""The executor's ledger, as the code location sees it: where intents go, where positions
and equity come from. The ledger itself belongs to ``executor/``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from executor.ledger import Ledger


class LedgerResource(dg.ConfigurableResource):
    """SQLAlchemy URL of the ledger (SQLite under TRADING_HOME by default, or Postgres)."""

    url: str
    mode: str = "paper"

    @contextmanager
    def open(self) -> Iterator[Ledger]:
        ledger = Ledger(self.url, mode=self.mode)
        try:
            yield ledger
        finally:
            ledger.close()
