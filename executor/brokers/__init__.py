"""Brokers: where orders go (the paper matcher, or an exchange through ccxt)."""
