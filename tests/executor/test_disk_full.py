"""A full disk never stops the executor: the health file and the lake's Parquet batches are
retried with backoff, alerted once per episode, and recover with nothing lost or doubled."""

from __future__ import annotations

import errno
import json
import logging
import shutil
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import executor.health
import executor.publish
from executor.alerts import Alerter, RetryingWrite
from executor.health import Health, read_health
from executor.ledger import Ledger
from executor.publish import DagsterReporter, Publisher
from tests.executor.helpers import T0, Clock
from tests.executor.test_publish import lake_rows, trade
from tests.fakes.http_json_server import FakeHTTPServer, Reply


def enospc(*_args: object, **_kwargs: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


class Disk:
    """Stands in for a write function: full (ENOSPC) or not, counting the attempts."""

    def __init__(self, real):
        self.real = real
        self.full = True
        self.attempts = 0

    def __call__(self, *args: object, **kwargs: object) -> object:
        self.attempts += 1
        if self.full:
            enospc()
        return self.real(*args, **kwargs)


def alerts(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(autouse=True)
def _no_webhook(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRADING_ALERT_WEBHOOK", raising=False)


def test_retry_backoff_doubles_up_to_a_minute_and_resets_on_success() -> None:
    now = [0.0]
    retry = RetryingWrite("x", logging.getLogger("test"), monotonic=lambda: now[0])
    gaps = []
    for _ in range(9):
        assert retry.due()
        retry.failed(OSError(errno.ENOSPC, "full"))
        start = now[0]
        while not retry.due():
            now[0] += 0.5
        gaps.append(now[0] - start)
    assert gaps == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    retry.succeeded()
    retry.failed(OSError(errno.ENOSPC, "full"))
    now[0] += 0.5
    assert not retry.due()
    now[0] += 0.5
    assert retry.due()


def test_health_keeps_its_state_in_memory_and_recovers_when_space_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    now = [0.0]
    alert_file = tmp_path / "alerts.jsonl"
    health = Health(tmp_path / "executor", alerter=Alerter(alert_file), monotonic=lambda: now[0])
    disk = Disk(executor.health.write_json_atomic)
    monkeypatch.setattr(executor.health, "write_json_atomic", disk)
    caplog.set_level(logging.INFO, logger="executor")
    for tick in range(1, 31):  # 30 one-second ticks on a full disk
        health.update(ticks=tick, state="ACTIVE")  # never raises
        now[0] += 1.0
    fresh, record = health.snapshot()
    assert fresh and record["ticks"] == 30  # the HTTP endpoint keeps serving the live state
    assert "ENOSPC" in record["health_file_error"] or "No space" in record["health_file_error"]
    assert read_health(tmp_path / "executor") is None
    # Attempts at 0, 1, 3, 7, 15 s and not on every tick: the backoff spares the disk.
    assert disk.attempts == 5
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "No space left on device" in errors[0].getMessage()
    (alert,) = alerts(alert_file)
    assert set(alert) == {"at", "severity", "title", "message"}  # the sensors' shape
    assert alert["severity"] == "critical" and "health file" in alert["title"]

    disk.full = False
    now[0] += 60
    health.update(ticks=31)
    assert read_health(tmp_path / "executor")["ticks"] == 31  # the current state, at once
    assert "health_file_error" not in health.snapshot()[1]
    assert any("recovered" in r.getMessage() for r in caplog.records)
    assert [a["severity"] for a in alerts(alert_file)] == ["critical", "info"]
    assert not list((tmp_path / "executor").glob(".*.tmp"))


def test_the_webhook_and_the_log_remain_when_the_alert_file_is_on_the_full_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    unwritable = tmp_path / "alerts.jsonl"
    unwritable.mkdir()  # appending to it fails with an OSError, as on a full disk
    monkeypatch.setattr(executor.health, "write_json_atomic", enospc)
    with FakeHTTPServer() as hook:
        hook.route("POST", "/hook", Reply.json({}))
        webhook = f"{hook.url}/hook"
        monkeypatch.setenv("TRADING_ALERT_WEBHOOK", webhook)
        health = Health(tmp_path / "executor", alerter=Alerter(unwritable))
        health.update(ticks=1)
        health.update(ticks=2)
    (request,) = hook.requests
    text = json.loads(request.body)["text"]
    assert text.startswith("[critical] executor: writing the health file") and "space" in text
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "could not append the alert" in logged and "No space left" in logged
    assert not any(webhook in str(vars(r)) for r in caplog.records)  # the URL is a secret


@pytest.fixture
def ledger(sqlite_url: str) -> Iterator[Ledger]:
    led = Ledger(sqlite_url, clock=Clock(T0 + timedelta(days=1)))
    yield led
    led.close()


def test_a_failed_parquet_write_is_retried_and_every_fill_published_exactly_once(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [0.0]
    lake, alert_file = tmp_path / "lake", tmp_path / "alerts.jsonl"
    disk = Disk(pq.write_table)
    monkeypatch.setattr(executor.publish.pq, "write_table", disk)
    with FakeHTTPServer() as dagster:
        for key in ("execution/fills", "execution/orders"):
            dagster.route("POST", f"/report_asset_materialization/{key}", Reply.json({}))
        publisher = Publisher(
            ledger,
            lake,
            DagsterReporter(dagster.url),
            monotonic=lambda: now[0],
            alerter=Alerter(alert_file),
        )
        trade(ledger, 1)
        report = publisher.publish()  # never raises
        assert "No space left on device" in report.error
        for n in range(2, 6):  # trading goes on while the disk is full
            trade(ledger, n)
            now[0] += 1.0
            publisher.publish()
        assert not list(lake.rglob("*.parquet")) and not list(lake.rglob("*.tmp"))
        assert dagster.requests == []  # nothing is reported that was not written
        assert 1 < disk.attempts < 6  # backoff, not a write per tick
        disk.full = False
        now[0] += 60
        report = publisher.publish()
        assert report.error is None and report.unreported == 0
        assert publisher.publish().allocated == 0
        versions = [json.loads(r.body)["data_version"] for r in dagster.requests]
    fills = lake_rows(lake, "fills")
    assert sorted(r["trade_id"] for r in fills) == [f"t{n}" for n in range(1, 6)]  # once each
    orders = lake_rows(lake, "orders")
    assert len(orders) == len({(r["client_order_id"], r["state"]) for r in orders}) == 10
    assert len(versions) == len(set(versions))  # each batch reported once
    assert {r["batch_id"] for r in fills + orders} == set(versions)
    assert [a["severity"] for a in alerts(alert_file)] == ["critical", "info"]


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 64 KiB tmpfs (needs the right to mount; skipped otherwise)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill_up(disk: Path) -> Path:
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def test_a_real_full_disk_stops_neither_health_nor_publishing(
    tiny_disk: Path, ledger: Ledger, tmp_path: Path
) -> None:
    now = [0.0]
    alert_file = tmp_path / "alerts.jsonl"  # the alerts on a disk with space
    health = Health(tiny_disk / "executor", alerter=Alerter(alert_file), monotonic=lambda: now[0])
    publisher = Publisher(ledger, tiny_disk / "lake", None, monotonic=lambda: now[0])
    health.update(ticks=0, padding="x" * 2000)
    filler = fill_up(tiny_disk)
    trade(ledger, 1)
    trade(ledger, 2)
    health.update(ticks=1, padding="y" * 20000)
    assert "No space left on device" in publisher.publish().error
    assert read_health(tiny_disk / "executor")["ticks"] == 0  # the old file is intact
    filler.unlink()
    now[0] += 60
    health.update(ticks=2)
    assert publisher.publish().error is None
    assert read_health(tiny_disk / "executor")["ticks"] == 2
    assert sorted(r["trade_id"] for r in lake_rows(tiny_disk / "lake", "fills")) == ["t1", "t2"]
    assert [a["severity"] for a in alerts(alert_file)] == ["critical", "info"]
