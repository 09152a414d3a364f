"""benchmarks/live_loop.py refuses malformed flags before it starts anything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "live_loop.py"


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--symbols", "0"], "--symbols 0: allowed 1..30"),
        (["--symbols", "31"], "--symbols 31: allowed 1..30"),
        (["--symbols", "abc"], "invalid int value: 'abc'"),
        (["--history-days", "-5"], "--history-days -5: allowed 1..730"),
        (["--history-days", "nan"], "invalid int value: 'nan'"),
        (["--bars", "0"], "--bars 0: allowed 1..1000"),
        (["--backfill-days", "-1"], "--backfill-days -1: allowed 0..3650"),
        (["--pace", "0"], "--pace 0.0: allowed 1..3600"),
        (["--pace", "nan"], "--pace nan: allowed 1..3600"),
        (["--pace", "inf"], "--pace inf: allowed 1..3600"),
        (["--port", "80"], "--port 80: allowed 1024..65535"),
    ],
)
def test_a_malformed_flag_is_refused_naming_it(flags: list[str], said: str) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *flags, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert said in done.stderr
    assert done.stdout == ""  # nothing started, no JSON line
