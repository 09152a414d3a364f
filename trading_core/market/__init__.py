"""Market data sources: sim (seeded, offline), replay (files), ccxt (any exchange)."""
