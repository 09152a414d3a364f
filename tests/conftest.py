"""Fixtures shared by every test: paths, an isolated TRADING_HOME, and a network guard."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()

os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Parse the dbt project when its manifest is missing or older than any dbt file: the
    code location loads the manifest at import (`make test` prepares it too). Under
    pytest-xdist only the controller parses, before the workers start."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    project = REPO_ROOT / "dbt_project"
    manifest = project / "target" / "manifest.json"
    sources = [
        p for folder in ("models", "macros", "tests") for p in (project / folder).rglob("*")
    ] + [project / "dbt_project.yml", project / "profiles.yml"]
    newest = max(p.stat().st_mtime for p in sources if p.is_file())
    if manifest.is_file() and manifest.stat().st_mtime >= newest:
        return
    os.environ.setdefault("TRADING_HOME", str(REPO_ROOT / ".trading"))
    from trading_pipelines.launcher import parse_dbt_project

    parse_dbt_project()


_skipped_browser_tests: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Remember browser tests that were skipped: a missing browser must fail, not pass."""
    if report.skipped and "browser" in report.keywords and not hasattr(report, "wasxfail"):
        _skipped_browser_tests.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _skipped_browser_tests and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter) -> None:
    if _skipped_browser_tests:
        terminalreporter.write_line(
            "FAILED: browser tests were skipped (never allowed; install Debian's chromium): "
            + ", ".join(_skipped_browser_tests),
            red=True,
        )


def _is_local(address: object) -> bool:
    if not isinstance(address, tuple) or not address:
        return True  # unix sockets and the like
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not _is_local(address):
        raise ConnectionRefusedError(f"tests may not reach the network: connect to {address!r}")
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if not _is_local(address):
        raise ConnectionRefusedError(f"tests may not reach the network: connect to {address!r}")
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection beyond loopback fails the test that made it."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data in ../shared/data (read from there, never copied into the project)."""
    assert SHARED_DATA.is_dir(), f"../shared/data is missing: {SHARED_DATA}"
    return SHARED_DATA


@pytest.fixture
def trading_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated TRADING_HOME with no config file and no leaking TRADING_* overrides."""
    for var in list(os.environ):
        if var.startswith("TRADING_"):
            monkeypatch.delenv(var)
    home = tmp_path / "trading_home"
    home.mkdir()
    monkeypatch.setenv("TRADING_HOME", str(home))
    from trading_core import config

    config.get_config.cache_clear()
    yield home
    config.get_config.cache_clear()


@pytest.fixture
def instance(tmp_path: Path):
    """A Dagster instance on disk with make run's settings (trading_pipelines.instance)."""
    import dagster as dg
    import yaml

    from trading_pipelines.instance import instance_settings

    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance_settings({})))
    instance = dg.DagsterInstance.from_config(str(home))
    yield instance
    instance.dispose()


@pytest.fixture(autouse=True)
def _no_stale_defs_state_storage() -> Iterator[None]:
    """Every DagsterInstance publishes its state storage in a process-wide context variable
    and restores the previous value when disposed; instances disposed out of order (or never)
    leave a disposed instance's storage behind, which breaks the next test that loads
    definitions ("Attempted to resolve undefined DagsterInstance weakref"). Start each test
    without one."""
    from dagster._core.storage.defs_state import base

    base._current_storage.set(None)
    yield
