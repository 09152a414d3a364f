"""The ledger's tables (SQLAlchemy Core), as of the latest schema version.

Every timestamp is naive UTC. Quantities and prices are doubles: the exchange's own precision
rules are applied before submitting (``executor.sizing``), so no value here needs more.
Changing a table means bumping ``SCHEMA_VERSION`` and adding a step to ``executor.migrations``.
"""

from __future__ import annotations

import sqlalchemy as sa

SCHEMA_VERSION = 7

# Strategy instances (trading_core.config_portfolio): ids are at most 40 characters.
INSTANCE_ID_LENGTH = 40

metadata = sa.MetaData()

# What a strategy wants. Written by the code location (another process) and by nothing else
# but the executor, which moves `status` along: NEW -> ACCEPTED | REJECTED_BY_RISK -> DONE.
intents = sa.Table(
    "intents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("intent_id", sa.String(64), nullable=False, unique=True),
    sa.Column("strategy", sa.String(64), nullable=False),
    sa.Column("exchange", sa.String(32), nullable=False),
    sa.Column("symbol", sa.String(32), nullable=False),
    sa.Column("timeframe", sa.String(8), nullable=False),
    sa.Column("bar_ts", sa.DateTime, nullable=False),
    sa.Column("decided_at", sa.DateTime, nullable=False),
    sa.Column("side", sa.String(4), nullable=False),
    sa.Column("action", sa.String(8), nullable=False),
    sa.Column("order_type", sa.String(8), nullable=False),
    sa.Column("notional", sa.Double),
    sa.Column("quantity", sa.Double),
    sa.Column("limit_price", sa.Double),
    sa.Column("reference_price", sa.Double, nullable=False),
    sa.Column("stop_loss", sa.Double),
    sa.Column("take_profit", sa.Double),
    sa.Column("trailing_stop_pct", sa.Double),
    sa.Column("post_only", sa.Boolean, nullable=False, server_default=sa.false()),
    # The all-in convention (executor.intents.OrderIntent): fee inside the notional, and
    # stop / take-profit fractions of the fill price.
    sa.Column("notional_includes_fee", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("stop_loss_pct", sa.Double),
    sa.Column("take_profit_pct", sa.Double),
    sa.Column("reasons", sa.Text, nullable=False),
    # The strategy instance the intent is for: `manual` for intents that name none
    # (`trading intents submit`), `default` for the single-strategy asset's.
    sa.Column(
        "instance_id", sa.String(INSTANCE_ID_LENGTH), nullable=False, server_default="default"
    ),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("status_reason", sa.Text),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Index("ix_intents_status", "status", "id"),
)

# Orders we placed (or found on the exchange: role 'external'). One row per client order id;
# `order_events` keeps every state change.
orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("client_order_id", sa.String(36), nullable=False, unique=True),
    sa.Column("exchange_order_id", sa.String(64)),
    sa.Column("intent_id", sa.String(64)),
    sa.Column("strategy", sa.String(64)),
    sa.Column("exchange", sa.String(32), nullable=False),
    sa.Column("symbol", sa.String(32), nullable=False),
    sa.Column("side", sa.String(4), nullable=False),
    sa.Column("order_type", sa.String(16), nullable=False),
    # entry | exit | stop_loss | take_profit | trailing_stop | operator | backstop | external
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False, default=0),
    sa.Column("post_only", sa.Boolean, nullable=False, default=False),
    sa.Column("quantity", sa.Double, nullable=False),
    sa.Column("price", sa.Double),
    sa.Column("stop_price", sa.Double),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("filled_quantity", sa.Double, nullable=False, default=0.0),
    sa.Column("average_price", sa.Double),
    sa.Column("fee", sa.Double, nullable=False, default=0.0),
    sa.Column("fee_currency", sa.String(16)),
    sa.Column("reason", sa.Text),
    sa.Column("mode", sa.String(8), nullable=False),
    # When the exchange first answered (the order left PENDING_SUBMIT).
    sa.Column("submitted_at", sa.DateTime),
    # Not-found answers while resolving an IN_FLIGHT_UNKNOWN order.
    sa.Column("lookups", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    # The strategy instance it trades for; NULL for an external order.
    sa.Column("instance_id", sa.String(INSTANCE_ID_LENGTH)),
    sa.Index("ix_orders_state", "state"),
    sa.Index("ix_orders_intent", "intent_id"),
    sa.Index("ix_orders_created", "created_at"),
    sa.Index("ix_orders_exchange_id", "exchange", "exchange_order_id"),
)

order_events = sa.Table(
    "order_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("client_order_id", sa.String(36), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("filled_quantity", sa.Double, nullable=False),
    sa.Column("average_price", sa.Double),
    sa.Column("fee", sa.Double, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("event_time", sa.DateTime, nullable=False),
)

fills = sa.Table(
    "fills",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("exchange", sa.String(32), nullable=False),
    sa.Column("trade_id", sa.String(64), nullable=False),
    sa.Column("client_order_id", sa.String(36)),
    sa.Column("exchange_order_id", sa.String(64)),
    sa.Column("intent_id", sa.String(64)),
    sa.Column("strategy", sa.String(64)),
    sa.Column("symbol", sa.String(32), nullable=False),
    sa.Column("side", sa.String(4), nullable=False),
    sa.Column("quantity", sa.Double, nullable=False),
    sa.Column("price", sa.Double, nullable=False),
    sa.Column("fee", sa.Double, nullable=False),
    sa.Column("fee_currency", sa.String(16)),
    # Quote per unit of fee_currency at fill time (a third currency such as BNB), the fee
    # valued in quote (trading_core.accounting), and why it could not be valued (then NULL).
    sa.Column("fee_price", sa.Double),
    sa.Column("fee_quote", sa.Double),
    sa.Column("fee_issue", sa.Text),
    sa.Column("liquidity", sa.String(5), nullable=False),
    sa.Column("event_time", sa.DateTime, nullable=False),
    sa.Column("recorded_at", sa.DateTime, nullable=False),
    sa.Column("mode", sa.String(8), nullable=False),
    # False for fills of external orders: they are kept, but do not move our positions.
    sa.Column("applied", sa.Boolean, nullable=False),
    # Its order's strategy instance; NULL for a fill of an external order.
    sa.Column("instance_id", sa.String(INSTANCE_ID_LENGTH)),
    # Trade ids are unique per symbol on Binance (and many others), not per exchange.
    sa.UniqueConstraint("exchange", "symbol", "trade_id", name="uq_fills_exchange_symbol_trade"),
    sa.Index("ix_fills_event_time", "event_time"),
)

# One sub-position per strategy instance and symbol: the exchange's position in a symbol is
# the sum over instances (reconciliation per account, attribution per instance).
positions = sa.Table(
    "positions",
    metadata,
    sa.Column("exchange", sa.String(32), primary_key=True),
    sa.Column("symbol", sa.String(32), primary_key=True),
    sa.Column(
        "instance_id", sa.String(INSTANCE_ID_LENGTH), primary_key=True, server_default="default"
    ),
    sa.Column("strategy", sa.String(64)),
    sa.Column("quantity", sa.Double, nullable=False),
    # Average cost of the open quantity, gross of fees (trading_core.accounting).
    sa.Column("avg_entry_price", sa.Double, nullable=False),
    # Cumulative realized P&L in quote before fees, the fees valued in quote at fill time,
    # and gross - fees.
    sa.Column("realized_pnl_gross", sa.Double, nullable=False, server_default="0"),
    sa.Column("realized_pnl_net", sa.Double, nullable=False, server_default="0"),
    sa.Column("fees_quote", sa.Double, nullable=False, server_default="0"),
    sa.Column("last_price", sa.Double),
    # Protective exits watched by the executor (set from the opening intent).
    sa.Column("stop_loss", sa.Double),
    sa.Column("take_profit", sa.Double),
    sa.Column("trailing_stop_pct", sa.Double),
    sa.Column("high_water", sa.Double),
    sa.Column("entry_intent_id", sa.String(64)),
    sa.Column("opened_at", sa.DateTime),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

# Cash per exchange and currency, moved by every applied fill in the same transaction.
cash = sa.Table(
    "cash",
    metadata,
    sa.Column("exchange", sa.String(32), primary_key=True),
    sa.Column("currency", sa.String(16), primary_key=True),
    sa.Column("amount", sa.Double, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

# Balance snapshots: 'exchange' (what reconciliation saw) and 'baseline' (holdings that were
# on the account before the ledger started; positions are measured on top of them).
balances = sa.Table(
    "balances",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("taken_at", sa.DateTime, nullable=False),
    sa.Column("exchange", sa.String(32), nullable=False),
    sa.Column("currency", sa.String(16), nullable=False),
    sa.Column("free", sa.Double, nullable=False),
    sa.Column("used", sa.Double, nullable=False),
    sa.Column("total", sa.Double, nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Index("ix_balances_source", "source", "exchange", "currency", "id"),
)

# One row (id = 1): ACTIVE | REDUCING | HALTED.
risk_state = sa.Table(
    "risk_state",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("peak_equity", sa.Double),
    # The risk protocol's state (executor.protocol_gate) as JSON, when the protocol is on.
    sa.Column("protocol_state", sa.Text),
    sa.Column("updated_by", sa.String(64), nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

operator_commands = sa.Table(
    "operator_commands",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("command", sa.String(20), nullable=False),
    sa.Column("symbol", sa.String(32)),
    sa.Column("who", sa.String(64), nullable=False),
    sa.Column("why", sa.Text, nullable=False),
    sa.Column("issued_at", sa.DateTime, nullable=False),
    sa.Column("applied_at", sa.DateTime),
    sa.Column("result", sa.Text),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("actor", sa.String(80), nullable=False),
    sa.Column("event", sa.String(40), nullable=False),
    sa.Column("subject", sa.String(80)),
    sa.Column("details", sa.Text, nullable=False),
)

# Publishing: a batch is allocated (rows fixed by id range and date) before its Parquet file
# is written, so a crash anywhere rewrites the same file instead of duplicating rows.
publish_outbox = sa.Table(
    "publish_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("batch_id", sa.String(80), nullable=False, unique=True),
    sa.Column("stream", sa.String(16), nullable=False),  # fills | orders
    sa.Column("event_date", sa.Date, nullable=False),
    sa.Column("first_row_id", sa.Integer, nullable=False),
    sa.Column("last_row_id", sa.Integer, nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("first_event_time", sa.DateTime, nullable=False),
    sa.Column("last_event_time", sa.DateTime, nullable=False),
    sa.Column("published_at", sa.DateTime, nullable=False),
    sa.Column("written_at", sa.DateTime),
    sa.Column("reported_at", sa.DateTime),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text),
)

# Highest source row id already allocated to a batch, per stream.
publish_cursor = sa.Table(
    "publish_cursor",
    metadata,
    sa.Column("stream", sa.String(16), primary_key=True),
    sa.Column("last_row_id", sa.Integer, nullable=False),
)

# One row per lease name ("executor"): which process owns this ledger. A second executor on
# the same URL refuses to start while the lease is live; `token` grows with every new holder
# (the fencing token every order submission checks).
executor_lease = sa.Table(
    "executor_lease",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("token", sa.Integer, nullable=False),
    sa.Column("holder", sa.String(64), nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("mode", sa.String(8), nullable=False),
    sa.Column("acquired_at", sa.DateTime, nullable=False),
    sa.Column("heartbeat_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    sa.Column("released_at", sa.DateTime),
)

# Facts about the ledger itself, e.g. the mode (paper | testnet | live) it was first used in:
# a ledger keeps one mode, so paper cash can never mix with an exchange account.
ledger_meta = sa.Table(
    "ledger_meta",
    metadata,
    sa.Column("key", sa.String(32), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

# Inputs that could not become an intent (not JSON, a NaN size, an unknown field) or intent
# rows found broken in the ledger: kept with their reason, never dropped, never fatal.
intent_quarantine = sa.Table(
    "intent_quarantine",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("intent_id", sa.String(64)),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("received_at", sa.DateTime, nullable=False),
)

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied_at", sa.DateTime, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
)
