"""The `make run` supervisor, with tiny child processes instead of Dagster and the executor:
a child that exits is restarted with backoff and alerted, the others are untouched, and only
SIGTERM/SIGINT to the supervisor stops them, every process group included."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from executor.alerts import Alerter
from trading_pipelines.launcher import services
from trading_pipelines.periodic import PeriodicRunner, PeriodicTask
from trading_pipelines.supervisor import Backoff, ChildSpec, Supervisor, log_tail

PY = sys.executable


@pytest.fixture(autouse=True)
def _no_webhook(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRADING_ALERT_WEBHOOK", raising=False)


def child(tmp_path: Path, name: str, code: str, **kwargs: object) -> ChildSpec:
    return ChildSpec(name, [PY, "-c", textwrap.dedent(code)], tmp_path / f"{name}.log", **kwargs)


def alerts(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def wait_for(condition: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) is dead too.
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split(")")[-1].split()[0] == "Z")


def test_a_crashing_child_is_restarted_with_backoff_and_alerted(tmp_path: Path) -> None:
    now = [0.0]
    alert_file = tmp_path / "alerts.jsonl"
    specs = [
        child(tmp_path, "dagster", "import sys; print('boom', flush=True); sys.exit(3)"),
        child(tmp_path, "executor", "import time; time.sleep(60)"),
    ]
    sup = Supervisor(
        specs,
        Alerter(alert_file),
        backoff=Backoff(initial=1, maximum=8, stable_after=30),
        clock=lambda: now[0],
        stop_timeout=5,
    )
    sup.start()
    crashing, steady = sup.children["dagster"], sup.children["executor"]
    try:
        for expected in (1, 2, 4, 8, 8):
            crashing.process.wait()
            sup.poll()  # notices the exit
            assert crashing.process is None and crashing.restart_at - now[0] == expected
            now[0] += expected - 0.5
            sup.poll()
            assert crashing.process is None  # not before its backoff is over
            now[0] += 0.5
            sup.poll()
            assert crashing.process is not None  # restarted
        assert crashing.restarts == 5 and len(set(crashing.pids)) == 6
        # The other child never noticed: same process all along.
        assert len(steady.pids) == 1 and steady.process.poll() is None
        records = alerts(alert_file)
        assert len(records) == 5
        first = records[0]
        assert set(first) == {"at", "severity", "title", "message"}  # the sensors' shape
        assert first["title"] == "dagster exited unexpectedly"
        assert "exit code 3" in first["message"] and "restart 1 in 1 s" in first["message"]
        assert "boom" in first["message"]  # the tail of its log
        # A run that lasted past stable_after starts the backoff over.
        crashing.process.wait()
        now[0] += 30
        sup.poll()
        assert crashing.restart_at - now[0] == 1
    finally:
        sup.stop()
    assert not alive(steady.pids[0])


def test_an_executor_that_refuses_to_start_is_retried_and_the_alert_says_why(
    tmp_path: Path,
) -> None:
    alert_file = tmp_path / "alerts.jsonl"
    refusing = child(
        tmp_path,
        "executor",
        """
        import json, sys
        print(json.dumps({"level": "error", "msg": "refusing to start",
                          "reason": "another executor holds the ledger lease (pid 4242)"}))
        sys.exit(2)
        """,
        refusal_code=2,
        severity="critical",
    )
    sup = Supervisor(
        [refusing], Alerter(alert_file), backoff=Backoff(initial=0.05, maximum=0.2), stop_timeout=5
    )
    sup.start()
    try:
        wait_for(lambda: (sup.poll(), sup.children["executor"].restarts >= 3)[1])
    finally:
        sup.stop()
    records = alerts(alert_file)
    assert len(records) >= 3
    assert {r["severity"] for r in records} == {"critical"}
    assert records[0]["title"] == "executor refused to start"
    assert records[0]["message"].startswith(
        "executor refused to start (exit code 2): refusing to start: "
        "another executor holds the ledger lease (pid 4242); restart 1 in 0.05 s"
    )
    # Each alert carries its own run's log lines, not the whole history of the file.
    assert all(r["message"].count('"msg": "refusing to start"') == 1 for r in records)


def test_a_child_that_cannot_be_started_is_retried(tmp_path: Path) -> None:
    alert_file = tmp_path / "alerts.jsonl"
    missing = ChildSpec("dagster", [str(tmp_path / "no-such-binary")], tmp_path / "d.log")
    now = [0.0]
    sup = Supervisor([missing], Alerter(alert_file), clock=lambda: now[0])
    sup.start()
    assert sup.children["dagster"].process is None
    now[0] += 1
    sup.poll()
    now[0] += 2
    sup.poll()
    assert sup.children["dagster"].restarts == 3
    assert "could not start" in alerts(alert_file)[0]["message"]


SUPERVISOR_SCRIPT = """
import sys
from pathlib import Path
from executor.alerts import Alerter
from trading_pipelines.supervisor import Backoff, ChildSpec, supervise

tmp = Path(sys.argv[1])
py = sys.executable
# A service with a grandchild in its group, one that ignores SIGTERM, one that crashes.
spawner = (
    "import subprocess, sys, time\\n"
    "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\\n"
    f"open({str(tmp / 'grandchild.pid')!r}, 'w').write(str(g.pid))\\n"
    "time.sleep(600)\\n"
)
stubborn = (
    "import signal, time\\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\\n"
    "time.sleep(600)\\n"
)
specs = [
    ChildSpec("dagster", [py, "-c", spawner], tmp / "dagster.log"),
    ChildSpec("executor", [py, "-c", stubborn], tmp / "executor.log"),
    ChildSpec("crasher", [py, "-c", "raise SystemExit(1)"], tmp / "crasher.log"),
]
print("supervising", flush=True)
sys.exit(supervise(specs, Alerter(tmp / "alerts.jsonl"),
                   backoff=Backoff(initial=0.1, maximum=0.2), stop_timeout=1.0))
"""


def children_of(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().split(")")[-1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_supervisor_stops_every_child_and_group(
    tmp_path: Path, repo_root: Path, sig: signal.Signals
) -> None:
    proc = subprocess.Popen(
        [PY, "-c", SUPERVISOR_SCRIPT, str(tmp_path)],
        cwd=repo_root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "supervising"
        grandchild_file = tmp_path / "grandchild.pid"
        wait_for(lambda: grandchild_file.exists() and grandchild_file.read_text())
        wait_for(lambda: len(alerts(tmp_path / "alerts.jsonl")) >= 2)  # the crasher, twice
        kids = children_of(proc.pid)
        assert len(kids) >= 2  # dagster and the stubborn executor (the crasher comes and goes)
        grandchild = int(grandchild_file.read_text())
        assert alive(grandchild)
        proc.send_signal(sig)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    for pid in [*kids, grandchild]:
        wait_for(lambda pid=pid: not alive(pid), timeout=5)
    assert {a["title"] for a in alerts(tmp_path / "alerts.jsonl")} == {
        "crasher exited unexpectedly"
    }


def test_make_run_supervises_dagster_the_executor_and_the_cockpit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRADING_TELEGRAM_TOKEN", raising=False)
    monkeypatch.delenv("TRADING_TELEGRAM_TOKEN_FILE", raising=False)
    specs = {s.name: s for s in services(3999, tmp_path)}
    assert set(specs) == {"dagster", "executor", "cockpit"}
    assert specs["cockpit"].args[-2:] == ["-m", "trading_pipelines.cockpit"]
    assert specs["executor"].refusal_code == 2 and specs["executor"].severity == "critical"
    assert specs["executor"].args[-4:] == ["executor", "run", "--mode", "paper"]
    assert "3999" in specs["dagster"].args and specs["dagster"].args[1] == "dev"


def test_stop_runs_before_stop_while_children_live_and_after_stop_once_they_are_gone(
    tmp_path: Path,
) -> None:
    seen: list[tuple[str, bool]] = []
    sup = Supervisor(
        [child(tmp_path, "dagster", "import time; time.sleep(60)")],
        Alerter(tmp_path / "alerts.jsonl"),
        stop_timeout=5,
        before_stop=lambda: seen.append(("before", alive(pid()))),
        after_stop=lambda: seen.append(("after", alive(pid()))),
    )

    def pid() -> int:
        return sup.children["dagster"].pids[0]

    sup.start()
    sup.stop()
    sup.stop()  # a second stop runs no hook again
    assert seen == [("before", True), ("after", False)]


def test_a_failing_hook_does_not_keep_the_children_running(tmp_path: Path) -> None:
    def broken() -> None:
        raise RuntimeError("the Dagster storage is gone")

    sup = Supervisor(
        [child(tmp_path, "executor", "import time; time.sleep(60)")],
        Alerter(tmp_path / "alerts.jsonl"),
        stop_timeout=5,
        before_stop=broken,
    )
    sup.start()
    sup.stop()
    assert not alive(sup.children["executor"].pids[0])


def test_periodic_tasks_run_in_the_background_and_survive_failures(tmp_path: Path) -> None:
    calls: list[str] = []

    def flaky() -> None:
        calls.append("flaky")
        raise OSError("disk full")

    runner = PeriodicRunner(
        [
            PeriodicTask("flaky", 0.01, flaky),
            PeriodicTask("steady", 0.01, lambda: calls.append("ok")),
        ]
    )
    runner.start()
    wait_for(lambda: runner.turns["flaky"] >= 3 and runner.turns["steady"] >= 3)
    runner.stop()
    count = len(calls)
    time.sleep(0.05)
    assert len(calls) == count  # stopped
    with pytest.raises(ValueError, match="every must be positive"):
        PeriodicRunner([PeriodicTask("busy", 0, lambda: None)])


def test_the_tail_of_a_rotated_log_is_read_from_its_start(tmp_path: Path) -> None:
    log = tmp_path / "executor.log"
    log.write_text("old line\n" * 100)
    offset = log.stat().st_size
    log.write_text("after rotation: refusing to start\n")  # copied away and truncated
    assert log_tail(log, offset) == ["after rotation: refusing to start"]


def test_the_telegram_bot_is_supervised_once_its_token_is_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADING_TELEGRAM_TOKEN", "123456:abc")
    specs = {s.name: s for s in services(3999, tmp_path)}
    bot = specs["telegram_bot"]
    assert bot.args[-2:] == ["-m", "trading_pipelines.telegram_bot"]
    assert bot.refusal_code == 2  # a bad token or no allow-listed chat: alerted, retried


def test_bootstrap_ingests_no_alt_data_day_before_the_start_date() -> None:
    from datetime import date, timedelta

    from trading_pipelines.launcher import ALT_DATA_DAYS, alt_data_start

    today = date(2026, 12, 1)
    first = today - timedelta(days=ALT_DATA_DAYS - 1)
    assert alt_data_start(today, date(2025, 1, 1)) == first
    # TRADING_START_DATE three days ago: the partitions begin there (the range was refused)
    assert alt_data_start(today, date(2026, 11, 28)) == date(2026, 11, 28)
