"""The code location as Dagster's tools load it. Importing ``trading_pipelines.definitions``
changes nothing (no environment writes, no dbt preparation, no files, no processes); the
``@dg.definitions`` function builds it; ``dagster asset materialize -m
trading_pipelines.definitions`` works on a fresh, relative TRADING_HOME, with dbt writing the
same warehouse as Dagster."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from tests.conftest import REPO_ROOT
from trading_core.timeframes import utc_now
from trading_pipelines.instance import instance_settings

BIN = Path(sys.executable).parent
TARGET = REPO_ROOT / "dbt_project" / "target"

# Runs in a fresh interpreter: records every environment write, process start and write
# under dbt_project/target that importing the code location makes (audit hooks see them all).
# Libraries that do such things at their own import (numpy sets and unsets an OpenBLAS
# variable, dagster's vendored croniter runs `file` on the interpreter) are imported first.
PROBE = r"""
import json, os, sys
import dagster, dagster_dbt, numpy, pandas

target = sys.argv[1]
seen = []
WRITES = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
PATH_EVENTS = {"os.mkdir", "os.remove", "os.rename", "os.replace", "os.rmdir", "os.utime",
               "os.chmod", "os.truncate", "shutil.rmtree", "shutil.copyfile"}

def under_target(path):
    return os.path.abspath(os.fsdecode(path)).startswith(target)

def audit(event, args):
    if event in ("os.putenv", "os.unsetenv", "subprocess.Popen", "os.system", "os.exec"):
        seen.append([event, repr(args[:2])])
    elif event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        path, mode, flags = args
        writes = any(c in mode for c in "wax+") if isinstance(mode, str) else flags & WRITES
        if writes and under_target(path):
            seen.append([event, os.fsdecode(path)])
    elif event in PATH_EVENTS and isinstance(args[0], (str, bytes, os.PathLike)):
        if under_target(args[0]):
            seen.append([event, os.fsdecode(args[0])])

before = dict(os.environ)
sys.addaudithook(audit)
import trading_pipelines.definitions as location
after = dict(os.environ)
print(json.dumps({
    "seen": seen,
    "environ": sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k)),
    "entry_point": type(location.defs).__name__,
}))
"""


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **extra}


@pytest.mark.parametrize(
    "extra",
    [{}, {"TRADING_HOME": "relative-home"}, {"TRADING_HOME": "h", "DAGSTER_IS_DEV_CLI": "1"}],
    ids=["no TRADING_HOME", "relative", "under dagster dev"],  # dev: where dbt would prepare
)
def test_importing_the_code_location_changes_nothing(tmp_path: Path, extra: dict[str, str]) -> None:
    env = clean_env(tmp_path, PYTHONPATH=str(REPO_ROOT), **extra)
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", PROBE, str(TARGET)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["environ"] == []
    assert report["seen"] == []
    assert report["entry_point"] == "LazyDefinitions"
    assert list(tmp_path.iterdir()) == []  # not even the root: loading creates it, not import


def test_the_entry_point_builds_the_code_location(trading_home: Path) -> None:
    from trading_pipelines.definitions import defs

    location = defs()
    assert isinstance(location, dg.Definitions)
    assert location.resolve_job_def("evaluate_strategy").name == "evaluate_strategy"
    assert location.resources["dbt"].trading_home == str(trading_home)
    assert trading_home.is_dir() and (trading_home.stat().st_mode & 0o077) == 0


def materialize(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`dagster asset materialize` as a user runs it: a relative TRADING_HOME, no venv on PATH,
    from a directory that is not the repository."""
    env = clean_env(
        tmp_path,
        TRADING_HOME="home",
        DAGSTER_HOME=str(tmp_path / "dagster_home"),
        DAGSTER_DISABLE_TELEMETRY="1",
    )
    return subprocess.run(
        [str(BIN / "dagster"), "asset", "materialize", "-m", "trading_pipelines.definitions",
         "-d", str(REPO_ROOT), *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


@pytest.mark.slow
def test_dagster_asset_materialize_on_a_fresh_relative_home(tmp_path: Path) -> None:
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(instance_settings(environ={})))
    day = (utc_now() - timedelta(days=1)).date().isoformat()

    wrong = materialize(tmp_path, "--select", "raw/ohlcv", "--partition", f"{day}/BTC-USDT")
    assert wrong.returncode != 0
    assert f"partition key `{day}/BTC-USDT`" in wrong.stderr

    candles = materialize(tmp_path, "--select", "raw/ohlcv", "--partition", f"{day}|BTC-USDT")
    assert candles.returncode == 0, candles.stderr[-3000:]
    staged = materialize(tmp_path, "--select", "stg_ohlcv")
    assert staged.returncode == 0, staged.stderr[-3000:]

    warehouse = tmp_path / "home" / "warehouse.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        raw = conn.execute(
            "select distinct symbol, cast(ts as date)::varchar from raw.ohlcv"
        ).fetchall()
        staged_rows = conn.execute("select count(*) from staging.stg_ohlcv").fetchone()[0]
        raw_rows = conn.execute("select count(*) from raw.ohlcv").fetchone()[0]
    assert raw == [("BTC/USDT", day)]
    assert staged_rows == raw_rows > 0  # dbt read and wrote the warehouse Dagster wrote
    assert not (REPO_ROOT / "dbt_project" / "home").exists()  # not relative to dbt's cwd

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        runs = instance.get_runs()
        assert [run.status for run in runs] == [dg.DagsterRunStatus.SUCCESS] * 2
        partitions = instance.get_materialized_partitions(dg.AssetKey(["raw", "ohlcv"]))
        assert partitions == {f"{day}|BTC-USDT"}
