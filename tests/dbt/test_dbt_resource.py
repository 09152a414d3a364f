"""The dbt resource hands dbt the absolute root for its call only: whatever TRADING_HOME the
process has (relative, another one, none), dbt gets the resource's, and the process keeps
its own afterwards, also when dbt fails. (The real invocation is tested end to end in
tests/test_code_location.py with a relative TRADING_HOME.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from dagster_dbt import DbtCliResource

from trading_pipelines.dbt import dbt_resource


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
    resource = dbt_resource(Path("root"))  # relative: made absolute when dbt runs
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
