"""The dbt warm-up an armed evaluation does while it waits for its bar close."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from types import SimpleNamespace
from typing import Any

import pytest

import assets.ingest.bar_close as bar_close
from trading_pipelines import dbt_warm_up


def test_warm_up_builds_the_schemas_dbt_validates_with() -> None:
    # In a fresh process: the schema cache starts empty there, whatever this worker ran.
    script = textwrap.dedent(
        """
        from dbt.contracts.project import Project
        from trading_pipelines import dbt_warm_up
        cache = Project.json_schema.__func__
        before = cache.cache_info().currsize
        thread = dbt_warm_up.warm_up_in_background()
        assert dbt_warm_up.warm_up_in_background() is thread  # once per process
        thread.join(120)
        print(before, cache.cache_info().currsize, thread.is_alive())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=180, check=True
    )
    before, after, alive = out.stdout.split()
    assert (int(before), alive) == (0, "False")
    assert int(after) >= 5  # project, packages, flags, the DuckDB profile, selectors


def test_a_failing_warm_up_is_logged_not_raised(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> None:
        raise ImportError("no dbt here")

    monkeypatch.setattr(dbt_warm_up, "warm_up", broken)
    dbt_warm_up._warm_up_quietly()
    assert "dbt warm-up failed" in caplog.text


def _context(tags: dict[str, str]) -> Any:
    log = SimpleNamespace(info=lambda *_: None, warning=lambda *_: None)
    return SimpleNamespace(run=SimpleNamespace(tags=tags), log=log)


@pytest.mark.parametrize(
    ("tags", "left", "warmed"),
    [
        ({}, 30.0, False),  # a backfill, a live_market tick, a run by hand: no wait
        ({bar_close.BAR_CLOSE_TAG: "not a time"}, 30.0, False),
        ({bar_close.BAR_CLOSE_TAG: "2026-12-03T12:00:00+00:00"}, 12.0, True),
        ({bar_close.BAR_CLOSE_TAG: "2026-12-03T12:00:00+00:00"}, 1.0, False),  # too late
        ({bar_close.BAR_CLOSE_TAG: "2026-12-03T12:00:00+00:00"}, -5.0, False),  # closed
        ({bar_close.BAR_CLOSE_TAG: "2026-12-03T12:00:00+00:00"}, None, False),  # never
    ],
)
def test_only_an_armed_run_with_time_to_spare_warms_dbt_up(
    monkeypatch: pytest.MonkeyPatch, tags: dict[str, str], left: float | None, warmed: bool
) -> None:
    calls: list[bool] = []
    monkeypatch.setattr(bar_close, "warm_up_in_background", lambda: calls.append(True))
    monkeypatch.setattr(bar_close, "seconds_until", lambda *_args: left)
    monkeypatch.setattr(bar_close, "wait_for_close", lambda *_args: 0.0)
    market = SimpleNamespace(clock=lambda: None)
    bar_close.wait_for_bar_close(_context(tags), market)  # type: ignore[arg-type]
    assert bool(calls) is warmed
