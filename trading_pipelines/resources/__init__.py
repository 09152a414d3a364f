"""Resources: each source has a live and an offline backend behind one interface, chosen by
configuration (``TradingConfig``), never by test switches inside assets."""
