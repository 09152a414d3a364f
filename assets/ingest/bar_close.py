"""The armed evaluation's gate: wait for the bar close before fetching it.

An evaluation run requested before its bar closes (``sensors.new_bars``) carries the close
on the market clock in ``trading/bar_close``. The first market-data step of the run waits
for it (plus ``trading/settle_seconds``, at most ``trading/max_wait_seconds``) and then
fetches as usual; a run without the tag (a backfill, a live_market tick, a run by hand)
does not wait. While it waits, the process's first-dbt-invocation costs are paid in the
background (``trading_pipelines.dbt_warm_up``): the run's dbt step comes right after.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import dagster as dg

from trading_core.market.bar_close import seconds_until, wait_for_close
from trading_pipelines.dbt_warm_up import warm_up_in_background
from trading_pipelines.resources.market import MarketDataResource

BAR_CLOSE_TAG = "trading/bar_close"
SETTLE_TAG = "trading/settle_seconds"
MAX_WAIT_TAG = "trading/max_wait_seconds"
DEFAULT_MAX_WAIT_SECONDS = 60.0
# dbt's warm-up takes about 1.2-1.6 s of one core; with less time left before the close it
# would compete with the ingest step for the interpreter instead of using the wait.
WARM_UP_MIN_LEAD_SECONDS = 2.0


def _seconds(tags: Mapping[str, str], key: str, default: float) -> float:
    try:
        value = float(tags.get(key, default))
    except ValueError:
        return default
    return value if 0 <= value < 3600 else default


def wait_for_bar_close(context: dg.AssetExecutionContext, market: MarketDataResource) -> None:
    """Block until the run's bar has closed on the market clock (no tag: return at once)."""
    tags = context.run.tags
    raw = tags.get(BAR_CLOSE_TAG)
    if not raw:
        return
    try:
        close = datetime.fromisoformat(raw)
    except ValueError:
        context.log.warning(f"{BAR_CLOSE_TAG}={raw!r} is not an ISO instant: not waiting")
        return
    clock = market.clock()
    left = seconds_until(clock, close)
    if left is not None and left >= WARM_UP_MIN_LEAD_SECONDS:
        warm_up_in_background()
    waited = wait_for_close(
        clock,
        close,
        _seconds(tags, SETTLE_TAG, 1.0),
        _seconds(tags, MAX_WAIT_TAG, DEFAULT_MAX_WAIT_SECONDS),
    )
    if waited:
        context.log.info(f"waited {waited:.1f} s for the bar close at {close.isoformat()}")
