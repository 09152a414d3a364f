"""What the executor publishes: Parquet batches in the lake, reported to Dagster's REST API.

The executor is a separate process, never a Dagster run, so these are ``AssetSpec``s:
Dagster records their materializations when the executor reports a batch.
"""

import dagster as dg

FILLS = dg.AssetSpec(
    key=["execution", "fills"],
    description=(
        "Every fill of the executor (paper, testnet or live), once per exchange trade id, "
        "as Parquet under TRADING_HOME/lake/execution/fills/date=YYYY-MM-DD/. Reported by the "
        "executor after each batch."
    ),
    group_name="execution",
    kinds={"parquet", "python"},
    deps=[dg.AssetKey(["strategy", "order_intents"])],
)

ORDERS = dg.AssetSpec(
    key=["execution", "orders"],
    description=(
        "Every order state change of the executor (one row per change) as Parquet under "
        "TRADING_HOME/lake/execution/orders/. Reported by the executor after each batch."
    ),
    group_name="execution",
    kinds={"parquet", "python"},
    deps=[dg.AssetKey(["strategy", "order_intents"])],
)

EXECUTION_SPECS = [ORDERS, FILLS]
