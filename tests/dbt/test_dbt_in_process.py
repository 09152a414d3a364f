"""dbt in the run's own process (``trading_pipelines.dbt_in_process``) gives Dagster what the
dbt subprocess gives: the same materializations, check results and metadata; dbt's failures
as failures; and the warehouse free for the next step and other processes afterwards."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from assets.dbt_models import dbt_models
from tests.dbt.test_dbt_project import seed_warehouse
from tests.dbt.test_dbt_resource import subprocess_resource
from trading_pipelines.dbt import dbt_resource
from trading_pipelines.dbt_in_process import InProcessDbt, _LineQueue, exit_code


def test_exit_codes_are_dbt_cli_exit_codes() -> None:
    assert exit_code(True, None) == 0
    assert exit_code(False, None) == 1  # a model or test failed
    assert exit_code(False, RuntimeError("no project")) == 2


def test_log_lines_reach_the_reader_whole_whatever_the_writes() -> None:
    out = _LineQueue()
    for piece in ['{"a": ', "1}\n{", '"b": 2}\n', "tail without newline"]:
        out.write(piece)
    out.end()
    got = []
    while (line := out.lines.get()) != b"":
        got.append(line)
    assert got == [b'{"a": 1}\n', b'{"b": 2}\n', b"tail without newline\n"]


def test_a_dbt_that_cannot_start_fails_with_exit_code_2_and_says_why() -> None:
    process = InProcessDbt(["dbt", "build", "--no-such-flag"], {})
    lines = list(process.stdout)
    assert process.wait() == 2 and process.returncode == 2
    assert any(b"dbt failed" in line and b"no-such-flag" in line for line in lines)
    process.send_signal(2)  # finished: nothing to interrupt


def test_an_interrupt_stops_dbt_as_ctrl_c_stops_the_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    """dagster-dbt forwards a run's termination as SIGINT: dbt gets a KeyboardInterrupt in
    its thread (and cancels its queries); the invocation ends with dbt's exit code 2."""
    from dbt.cli.main import dbtRunner, dbtRunnerResult

    started = threading.Event()

    def invoke(self, args, **kwargs):
        started.set()
        try:
            while True:
                time.sleep(0.01)
        except KeyboardInterrupt as stop:
            return dbtRunnerResult(success=False, exception=stop)

    monkeypatch.setattr(dbtRunner, "invoke", invoke)
    process = InProcessDbt(["dbt", "build"], {})
    assert started.wait(10)
    assert process.wait(timeout=0.2) is None and process.poll() is None  # still running
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=10) == 2
    assert any(b"KeyboardInterrupt" in line for line in process.stdout)


def test_a_command_needs_an_executable() -> None:
    with pytest.raises(ValueError, match="executable"):
        InProcessDbt([], {})


def _events(result: dg.ExecuteInProcessResult) -> list[tuple]:
    """Every asset event of the run: materializations with their metadata keys, check
    results with their outcome."""
    rows: list[tuple] = [
        ("materialization", mat.asset_key.to_user_string(), sorted(mat.metadata))
        for mat in result.asset_materializations_for_node("dbt_models")
    ]
    rows += [
        ("check", check.asset_key.to_user_string(), check.check_name, check.passed)
        for check in result.get_asset_check_evaluations()
    ]
    return sorted(rows, key=repr)


@pytest.mark.integration
def test_in_process_dbt_gives_the_subprocess_events_and_frees_the_warehouse(
    trading_home: Path, tmp_path: Path
) -> None:
    other = tmp_path / "subprocess_home"
    other.mkdir()
    for home in (trading_home, other):
        seed_warehouse(home)
    # the whole project with its dbt tests (asset checks), as bootstrap builds it
    inside = dg.materialize([dbt_models], resources={"dbt": dbt_resource(trading_home)})
    # another configuration than dbt's: only possible once dbt closed the file
    with duckdb.connect(str(trading_home / "warehouse.duckdb"), read_only=True) as conn:
        row = conn.execute("select count(*) from signals.fct_signals").fetchone()
    assert row is not None and row[0] > 0
    apart = dg.materialize([dbt_models], resources={"dbt": subprocess_resource(other)})
    assert inside.success and apart.success
    assert _events(inside) == _events(apart)
    assert any(event[0] == "check" for event in _events(inside))


@pytest.mark.integration
def test_a_failing_model_fails_the_step_in_process(trading_home: Path) -> None:
    """No candles table: the staging model fails; dagster-dbt raises dbt's error."""
    duckdb.connect(str(trading_home / "warehouse.duckdb")).close()
    result = dg.materialize(
        [dbt_models],
        resources={"dbt": dbt_resource(trading_home)},
        selection=dg.AssetSelection.assets("stg_ohlcv"),
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "exit code `1`" in str(failure.event_specific_data)
