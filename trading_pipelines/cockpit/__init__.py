"""The trader's web cockpit and its JSON API (``/api/v1``), served next to the Dagster UI.

Trading pages (overview, instances, positions, trades, actions) read the executor's ledger
alone; the signals page reads the warehouse snapshot a Dagster run writes
(``cockpit/warehouse_snapshot``). Operator actions record the same ledger commands as
``trading control``. ``create_app`` builds it; ``python -m trading_pipelines.cockpit`` and
``trading cockpit`` serve it.
"""

from trading_pipelines.cockpit.app import create_app

__all__ = ["create_app"]
