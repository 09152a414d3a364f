"""The dbt resource hands dbt the absolute root for its call only: whatever TRADING_HOME the
process has (relative, another one, none), dbt gets the resource's, and the process keeps
its own afterwards, also when dbt fails; in a subprocess or in this process
(``trading_pipelines.dbt_in_process``). (The real invocation is tested end to end in
tests/test_code_location.py with a relative TRADING_HOME; in-process against the subprocess
in tests/dbt/test_dbt_in_process.py.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from dagster_dbt import DbtCliResource

from trading_pipelines.dbt import TradingDbtResource, dbt_resource


def subprocess_resource(root: Path) -> TradingDbtResource:
    """The resource as it runs dbt in a subprocess (``in_process`` off)."""
    base = dbt_resource(root)
    return TradingDbtResource(
        project_dir=base.project_dir,
        dbt_executable=base.dbt_executable,
        trading_home=base.trading_home,
        in_process=False,
    )


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """What TRADING_HOME dagster-dbt would hand the dbt process; then dbt fails."""
    calls: list[str | None] = []

    def failing_cli(self, args, **kwargs):
        calls.append(os.environ.get("TRADING_HOME"))
        raise RuntimeError("dbt failed")

    monkeypatch.setattr(DbtCliResource, "cli", failing_cli)
    return calls


@pytest.mark.parametrize("process_home", [None, "", "relative", "/somewhere/else"])
def test_dbt_gets_the_resource_root_and_the_process_keeps_its_own(
    seen, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, process_home: str | None
) -> None:
    monkeypatch.chdir(tmp_path)
    if process_home is None:
        monkeypatch.delenv("TRADING_HOME", raising=False)
    else:
        monkeypatch.setenv("TRADING_HOME", process_home)
    resource = subprocess_resource(Path("root"))  # relative: made absolute when dbt runs
    assert not resource.runs_in_process
    for _ in range(2):
        with pytest.raises(RuntimeError, match="dbt failed"):
            resource.cli(["build"])
    assert seen == [str(tmp_path / "root")] * 2
    assert os.environ.get("TRADING_HOME") == process_home


def test_the_default_root_is_this_process_trading_home(trading_home: Path) -> None:
    assert dbt_resource().trading_home == str(trading_home)


def test_the_dbt_version_is_read_without_starting_dbt(monkeypatch: pytest.MonkeyPatch) -> None:
    """dagster-dbt runs `dbt --version` (a whole dbt start, ~3.4 s CPU) once per invocation,
    i.e. once per evaluation run; this environment's dbt-core answers the same."""
    import subprocess
    from importlib.metadata import version

    def no_process(*args, **kwargs):
        raise AssertionError(f"a process was started: {args}")

    monkeypatch.setattr(subprocess, "check_output", no_process)
    resource = dbt_resource(Path("/tmp/root"))
    assert str(resource._cli_version) == version("dbt-core")


def test_another_dbt_executable_is_still_asked_its_version(tmp_path: Path) -> None:
    fake = tmp_path / "dbt"
    fake.write_text("#!/bin/sh\necho 'Core:\n  - installed: 9.8.7'\n")
    fake.chmod(0o755)
    resource = dbt_resource(tmp_path).model_copy(update={"dbt_executable": str(fake)})
    assert str(resource._cli_version) == "9.8.7"


def test_no_in_process_adapter_is_built() -> None:
    """The adapter only serves row counts and column metadata, which no asset fetches; a
    stream that asked for them would get dagster-dbt's own 'no adapter' error, not a crash."""
    assert dbt_resource(Path("/tmp/root"))._initialize_dbt_core_adapter(["build"]) is None


@pytest.mark.parametrize("process_home", [None, "relative", "/somewhere/else"])
def test_in_process_dbt_gets_the_resource_root_and_the_process_keeps_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, process_home: str | None
) -> None:
    """In-process, dbt reads the root from os.environ when it starts (its profile's
    env_var): its thread sets it for the invocation, the process gets its own back."""
    from dbt.cli.main import dbtRunner, dbtRunnerResult

    seen: list[tuple[str | None, str | None]] = []

    def invoke(self, args, **kwargs):
        seen.append((os.environ.get("TRADING_HOME"), os.environ.get("DBT_LOG_FORMAT")))
        return dbtRunnerResult(success=False, exception=RuntimeError("dbt failed"))

    monkeypatch.setattr(dbtRunner, "invoke", invoke)
    monkeypatch.chdir(tmp_path)
    if process_home is None:
        monkeypatch.delenv("TRADING_HOME", raising=False)
    else:
        monkeypatch.setenv("TRADING_HOME", process_home)
    resource = dbt_resource(Path("root"))
    assert resource.runs_in_process
    for _ in range(2):
        invocation = resource.cli(["ls"], target_path=tmp_path / "target", raise_on_error=False)
        assert not invocation.is_successful()
        assert invocation.process.returncode == 2
    assert seen == [(str(tmp_path / "root"), "json")] * 2
    assert os.environ.get("TRADING_HOME") == process_home


def test_another_dbt_executable_runs_as_its_own_process(tmp_path: Path) -> None:
    fake = tmp_path / "dbt"
    fake.write_text("#!/bin/sh\necho 'Core:\n  - installed: 9.8.7'\n")
    fake.chmod(0o755)
    base = dbt_resource(tmp_path)
    other = TradingDbtResource(
        project_dir=base.project_dir, dbt_executable=str(fake), trading_home=base.trading_home
    )
    assert other.in_process and not other.runs_in_process
