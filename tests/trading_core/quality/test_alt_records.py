"""The record rules for social, news and on-chain data, and the line-by-line CSV reader."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trading_core.quality.alt_records import (
    MAX_TEXT_CHARS,
    REASON_CHECKS,
    Horizon,
    check_text_length,
    metric_may_be_negative,
    negative_value_problem,
    quarantine_conflicts,
)
from trading_core.social.csvlines import read_csv_lines
from trading_core.social.results import RecordRejected, RejectLog

NOW = datetime(2026, 12, 1, 12, 0)


def log() -> RejectLog:
    return RejectLog("raw/test", NOW)


@pytest.mark.parametrize(
    ("metric", "signed"),
    [
        ("ROI30d", True),
        ("ROI1yr", True),
        ("FlowNetInExNtv", True),
        ("hash_rate", False),
        ("difficulty", False),
        ("market_price", False),
        ("CapMVRVCur", False),
        ("unknown_metric", False),  # unknown metrics are held to the strict rule
    ],
)
def test_which_metrics_may_be_negative(metric: str, signed: bool) -> None:
    assert metric_may_be_negative(metric) is signed
    assert (negative_value_problem(metric, -0.5) is None) is signed
    assert negative_value_problem(metric, 0.0) is None


def test_text_at_the_limit_passes_and_one_more_character_is_rejected() -> None:
    check_text_length("title", "x" * MAX_TEXT_CHARS)
    check_text_length("title", None)
    with pytest.raises(RecordRejected, match=r"text too long: title has 100,001 characters"):
        check_text_length("title", "x" * (MAX_TEXT_CHARS + 1))


def test_a_horizon_names_which_side_a_time_falls_off() -> None:
    horizon = Horizon.from_now(datetime(2025, 1, 1), NOW, timedelta(minutes=5))
    assert horizon.contains(NOW + timedelta(minutes=4))
    assert horizon.problem("ts", datetime(2024, 12, 31)).endswith(
        "is before the first partition (2025-01-01T00:00:00)"
    )
    assert "after now + clock skew" in horizon.problem("ts", datetime(2999, 1, 1))
    with pytest.raises(ValueError, match="horizon: first"):
        Horizon(NOW, NOW)


def test_copies_collapse_and_conflicts_leave_every_version_in_quarantine() -> None:
    frame = pd.DataFrame(
        {
            "id": ["a", "a", "b", "b", "c", "d", "d"],
            "text": ["x", "x", "y", "z", "w", None, np.nan],
        }
    )
    rejects = log()
    kept = quarantine_conflicts(frame, ["id"], ["text"], rejects)
    assert kept["id"].tolist() == ["a", "c", "d"]  # None and NaN are the same "no text"
    rejected = rejects.frame()
    assert len(rejected) == 2
    assert set(rejected["reason"]) == {
        "conflicting duplicate: id=b has 2 versions differing in text; all kept here, none stored"
    }
    assert {json.loads(p)["record"]["text"] for p in rejected["payload"]} == {"y", "z"}


def test_a_frame_without_duplicate_ids_is_returned_as_is() -> None:
    frame = pd.DataFrame({"id": ["a", "b"], "text": ["x", "y"]})
    assert quarantine_conflicts(frame, ["id"], ["text"], log()) is frame


def test_every_reason_code_maps_to_a_check() -> None:
    assert set(REASON_CHECKS.values()) == {
        "no_conflicting_duplicates",
        "event_times_in_partitions",
        "values_in_domain",
        "text_within_limit",
        "lines_parsed",
    }


def test_csv_lines_keep_good_rows_and_reject_bad_ones_by_number(tmp_path: Path) -> None:
    path = tmp_path / "blockchaincom_btc_hash_rate.csv"
    path.write_bytes(
        b"timestamp,hash_rate\n"
        b"2024-01-01T00:00:00Z,1.5\n"
        b"2024-01-05T00:00:00Z,2.5,extra\n"
        b"\n"
        b"2024-01-09T00:00:00Z,\xff\xfe\n"
        b"2024-01-13T00:00:00Z\n"
        b'"2024-01-17T00:00:00Z","3.5"\r\n'
    )
    rejects = log()
    read = read_csv_lines(path, rejects)
    assert read is not None and read.header == ["timestamp", "hash_rate"]
    assert read.frame.values.tolist() == [
        ["2024-01-01T00:00:00Z", "1.5", 2],
        ["2024-01-17T00:00:00Z", "3.5", 7],
    ]
    rejected = rejects.frame()
    origins = [json.loads(p)["origin"] for p in rejected["payload"]]
    assert origins == [f"{path.name}:3", f"{path.name}:5", f"{path.name}:6"]
    assert rejected["reason"].tolist() == [
        "malformed line: expected 2 fields (timestamp,hash_rate), got 3",
        "malformed line: not UTF-8 (invalid start byte)",
        "malformed line: expected 2 fields (timestamp,hash_rate), got 1",
    ]


@pytest.mark.parametrize("content", [b"", b"\n\n", b"\xff\xfe\x00binary"])
def test_a_csv_file_that_cannot_be_read_is_one_reject(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "blockchaincom_btc_hash_rate.csv"
    path.write_bytes(content)
    rejects = log()
    assert read_csv_lines(path, rejects) is None
    [reason] = rejects.frame()["reason"]
    assert reason.startswith("unreadable file:")


def test_a_reject_payload_clips_huge_text() -> None:
    rejects = log()
    rejects.add("text too long: x", origin="f:1", record={"selftext": "a" * 3_000_000})
    [payload] = rejects.frame()["payload"]
    assert len(payload) < 3_000 and "3,000,000 characters in all" in payload
