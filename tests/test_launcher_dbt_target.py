"""`make run` keeps dbt's parse state in its own TRADING_HOME: a target shared with another
root (tests, a second home) would make every evaluation re-parse the whole project."""

from __future__ import annotations

import json

import pytest

from trading_pipelines import launcher


def test_the_parse_goes_to_the_homes_target_and_the_manifest_where_dagster_reads_it(
    trading_home, tmp_path, monkeypatch
) -> None:
    project = tmp_path / "dbt_project"
    project.mkdir()
    monkeypatch.setattr(launcher, "DBT_PROJECT_DIR", project)
    calls = []

    def parse(args, **kwargs):
        calls.append((args, kwargs))
        target = args[args.index("--target-path") + 1]
        (launcher.Path(target)).mkdir(parents=True, exist_ok=True)
        (launcher.Path(target) / "manifest.json").write_text(json.dumps({"nodes": {}}))
        (launcher.Path(target) / "partial_parse.msgpack").write_bytes(b"state")

    monkeypatch.setattr(launcher.subprocess, "run", parse)
    launcher.parse_dbt_project()
    (args, kwargs), = calls  # fmt: skip
    target = trading_home / "dbt_target"
    assert launcher.dbt_target_dir() == target
    assert args[args.index("--target-path") + 1] == str(target)
    assert kwargs["env"]["TRADING_HOME"] == str(trading_home)
    assert json.loads((project / "target" / "manifest.json").read_text()) == {"nodes": {}}
    assert (target / "partial_parse.msgpack").read_bytes() == b"state"
    assert not list((project / "target").glob(".manifest.*"))  # staged copy replaced


def test_the_services_and_their_upkeep_use_that_target(trading_home) -> None:
    env = launcher._service_env()
    assert env["DBT_TARGET_PATH"] == str(trading_home / "dbt_target")


def test_a_failed_parse_leaves_the_manifest_alone(trading_home, tmp_path, monkeypatch) -> None:
    project = tmp_path / "dbt_project"
    (project / "target").mkdir(parents=True)
    (project / "target" / "manifest.json").write_text("{}")
    monkeypatch.setattr(launcher, "DBT_PROJECT_DIR", project)

    def fail(args, **kwargs):
        raise launcher.subprocess.CalledProcessError(2, args)

    monkeypatch.setattr(launcher.subprocess, "run", fail)
    with pytest.raises(launcher.subprocess.CalledProcessError):
        launcher.parse_dbt_project()
    assert (project / "target" / "manifest.json").read_text() == "{}"
