"""Keys are stripped and validated on the way in, and no form of a key reaches a log line:
raw, JSON-escaped, URL-encoded, repr-escaped in a traceback, or in ccxt's request headers."""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from executor.__main__ import main
from executor.brokers.ccxt_broker import CcxtBroker
from executor.logs import REDACTED, JsonFormatter, configure_logging, redact_auth_fields
from executor.secrets import MAX_SECRET_LENGTH, SecretError, load_api_keys
from tests.executor.helpers import make_order
from tests.fakes.binance_server import FakeBinance, make_ccxt_client
from trading_core.config import FeesConfig

KEY = "SENTINELKEY7f3a9c1e55aa"
# Printable ASCII whose escaped and encoded forms all differ from the raw one.
SECRET = 'S3cr/et+x=y"q\\z&w%SENTINEL'


@pytest.fixture
def root_logging() -> Iterator[None]:
    """configure_logging replaces the root handlers; put pytest's back afterwards."""
    root, ccxt_logger = logging.getLogger(), logging.getLogger("ccxt")
    handlers, level, ccxt_level = list(root.handlers), root.level, ccxt_logger.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    ccxt_logger.setLevel(ccxt_level)


def render(secrets: list[str], msg: str, *args: object, exc: BaseException | None = None) -> str:
    record = logging.makeLogRecord(
        {"name": "t", "levelname": "ERROR", "msg": msg, "args": args or None}
    )
    if exc is not None:
        record.exc_info = (type(exc), exc, exc.__traceback__)
    line = JsonFormatter(secrets).format(record)
    json.loads(line)  # still one JSON object
    return line


# ---------------------------------------------------------------------------- loading


def test_keys_are_stripped_from_the_environment_and_from_files(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(f"  {SECRET}\n\n")
    keys = load_api_keys(
        {"TRADING_API_KEY": KEY + "\n", "TRADING_API_SECRET_FILE": str(secret_file)}
    )
    assert keys is not None and (keys.api_key, keys.secret) == (KEY, SECRET)
    assert KEY not in repr(keys) and SECRET not in repr(keys)


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("Zq9", "has 3 characters"),
        ("Zq9" * 200, f"8 to {MAX_SECRET_LENGTH}"),
        ("Zq9abc def123", "whitespace"),
        ("Zq9abc\x07def123", "printable ASCII"),
        ("Zq9abcdéf123", "printable ASCII"),
    ],
)
def test_absurd_secrets_are_refused_without_printing_them(value: str, rule: str) -> None:
    with pytest.raises(SecretError) as refused:
        load_api_keys({"TRADING_API_KEY": KEY, "TRADING_API_SECRET": value})
    message = str(refused.value)
    assert "TRADING_API_SECRET" in message and rule in message
    assert "Zq9" not in message


def test_an_unreadable_secret_file_is_a_clear_error(tmp_path: Path) -> None:
    binary = tmp_path / "secret.bin"
    binary.write_bytes(b"\xff\xfe\x00secret")
    with pytest.raises(SecretError, match=r"TRADING_API_SECRET_FILE .* cannot be read"):
        load_api_keys({"TRADING_API_KEY": KEY, "TRADING_API_SECRET_FILE": str(binary)})


# -------------------------------------------------------------------------- redaction


@pytest.mark.parametrize(
    "form",
    [
        SECRET,
        json.dumps(SECRET),
        quote(SECRET, safe=""),
        quote(SECRET),
        quote_plus(SECRET),
        repr(SECRET),
        repr({"X-Custom": SECRET}),
    ],
)
def test_every_form_of_a_secret_is_redacted(form: str) -> None:
    line = render([SECRET], "value %s end", form)
    assert REDACTED in line
    assert "SENTINEL" not in line and "S3cr" not in line


def test_a_secret_in_an_exception_traceback_is_redacted() -> None:
    try:
        raise ValueError(
            f"Invalid return character or leading space in header: {SECRET + chr(10)!r}"
        )
    except ValueError as caught:
        line = render([SECRET], "request failed", exc=caught)
    assert "ValueError" in line and "SENTINEL" not in line and "S3cr" not in line


def test_short_values_are_never_redacted() -> None:
    line = render(["t"], "the tick took %s ms", 12)
    assert json.loads(line)["msg"] == "the tick took 12 ms"


def test_auth_header_values_are_redacted_by_name_whatever_they_hold() -> None:
    text = (
        "GET https://x/api?timestamp=1&signature=abcdef0123, Request: "
        "{'X-MBX-APIKEY': 'not-a-known-secret', 'Authorization': \"Bearer tok\", 'Accept': 'json'}"
    )
    redacted = redact_auth_fields(text)
    assert "not-a-known-secret" not in redacted and "Bearer" not in redacted
    assert redact_auth_fields("Authorization: Bearer tok123 sent") == "Authorization: *** sent"
    assert "abcdef0123" not in redacted
    assert "'X-MBX-APIKEY': '***'" in redacted and "'Accept': 'json'" in redacted


@pytest.mark.integration
def test_ccxt_at_debug_logs_no_auth_header_and_no_key(root_logging: None) -> None:
    stream = io.StringIO()
    configure_logging("DEBUG", secrets=[KEY, SECRET], stream=stream)
    with FakeBinance(api_key=KEY, secret=SECRET) as fake:
        fake.set_order_book("BTCUSDT", bids=[(30_000, 1)], asks=[(30_010, 1)])
        broker = CcxtBroker(
            make_ccxt_client(fake.url, api_key=KEY, secret=SECRET), fees=FeesConfig()
        )
        broker.check_key_permissions()
        broker.submit(make_order(exchange="binance", quantity=0.01, mode="testnet"))
        assert broker.balances()["BTC"][2] == pytest.approx(0.01)
    text = stream.getvalue()
    assert '"level": "debug"' in text  # DEBUG was on (urllib3's connection lines)
    assert "X-MBX-APIKEY" not in text and "Request:" not in text
    for leaked in (KEY, SECRET, quote(SECRET, safe=""), KEY[:8]):
        assert leaked not in text
    assert logging.getLogger("ccxt").getEffectiveLevel() == logging.INFO


# ------------------------------------------------------- start-up failures: one clear line


def refusal_line(stderr: str) -> dict:
    """The one error line, a refusal; no traceback anywhere."""
    lines = [json.loads(x) for x in stderr.splitlines() if x.strip()]
    (line,) = [x for x in lines if x["level"] == "error"]
    assert line["msg"] == "refusing to start"
    assert "Traceback" not in stderr and not any("exc" in x for x in lines)
    return line


@pytest.mark.usefixtures("root_logging")
def test_a_full_disk_at_start_up_is_one_line_and_exit_2(
    trading_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def full(self: Path, *args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))

    monkeypatch.setattr(signal, "signal", lambda *args: None)  # keep pytest's handlers
    monkeypatch.setattr(Path, "mkdir", full)
    assert main(["run", "--mode", "paper", "--ticks", "1", "--no-dagster-report"]) == 2
    reason = refusal_line(capsys.readouterr().err)["reason"]
    assert "No space left on device" in reason and str(trading_home) in reason


@pytest.mark.usefixtures("root_logging")
@pytest.mark.parametrize(
    ("ledger", "expected"),
    [
        ("sqlite:///{home}/a-file/ledger.sqlite", "cannot write the executor's files: [Errno"),
        (
            "postgresql+psycopg2://postgres@127.0.0.1:9/test",
            "the ledger database cannot be used: connection to server at",
        ),
    ],
)
def test_a_ledger_that_cannot_be_opened_is_one_line_and_exit_2(
    trading_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    ledger: str,
    expected: str,
) -> None:
    (trading_home / "a-file").write_text("")
    monkeypatch.setattr(signal, "signal", lambda *args: None)  # keep pytest's handlers
    monkeypatch.setenv("TRADING_LEDGER_URL", ledger.format(home=trading_home))
    assert main(["run", "--mode", "paper", "--ticks", "1", "--no-dagster-report"]) == 2
    assert expected in refusal_line(capsys.readouterr().err)["reason"]


@pytest.mark.usefixtures("root_logging")
def test_a_secret_with_a_newline_or_one_letter_never_reaches_the_log(
    trading_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRADING_API_KEY", KEY)
    monkeypatch.setenv("TRADING_API_SECRET", "t")
    assert main(["run", "--mode", "testnet", "--exchange", "binance"]) == 2
    line = refusal_line(capsys.readouterr().err)
    assert "TRADING_API_SECRET has 1 characters" in line["reason"]
    assert KEY not in json.dumps(line) and REDACTED not in json.dumps(line)
