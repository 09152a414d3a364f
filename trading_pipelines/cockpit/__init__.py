"""The trader's web cockpit and its JSON API (``/api/v1``), served next to the Dagster UI.

Trading pages (overview, instances, positions, trades, actions) read the executor's ledger
alone; the signals page reads the warehouse snapshot a Dagster run writes
(``cockpit/warehouse_snapshot``). Operator actions record the same ledger commands as
``trading control``. ``create_app`` builds it; ``python -m trading_pipelines.cockpit`` and
``trading cockpit`` serve it.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trading_pipelines.cockpit.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # Lazy: the ``trading`` parser registers ``cockpit`` (``.serve``) without importing
    # FastAPI and the ledger for every other command.
    if name == "create_app":
        from trading_pipelines.cockpit.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
