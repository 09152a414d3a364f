"""``trading intents submit FILE.jsonl`` (``-`` for stdin): order intents into the ledger.

One JSON object per line, with the fields of ``executor.intents.OrderIntent`` (the contract
the code location writes); blank lines are skipped. For each line one JSON line is printed:
``{"intent_id": ..., "accepted": true|false, "reason": ..., "line": N}``. A line that is not
JSON, not an object, or not a valid intent (an unknown field such as ``notinal``, a NaN size,
a limit without a price) is accepted=false with the line number in its reason, and kept in
the ledger's quarantine with its raw text: nothing is lost, nothing stops the rest. The exit
status is 0 once every line was processed (rejections included), 2 for a usage error (a
missing file, a bad ledger URL), 1 if the ledger failed part way (the lines printed so far
were processed).

Defaults for fields a manual trade (or another system) may leave out:

- ``strategy``: ``"manual"`` (any label is allowed)
- ``exchange``: the executor's configured exchange (``executor.exchange``)
- ``timeframe``: ``"1m"``; it sets the age limit (one bar plus the executor's grace)
- ``decided_at``: the time of the submission (UTC); ``bar_ts``: ``decided_at``
- ``action`` from ``side`` (buy opens, sell closes) and ``side`` from ``action``
- ``order_type``: ``"limit"`` when ``limit_price`` is given, else ``"market"``
- ``reference_price``: none, so no price-deviation guard applies (only the age limit)
- ``quantity`` on a close: none, the whole position
- ``intent_id``: a hash of the intent's content, so the same line submitted twice in one run
  is one intent; a line without ``intent_id`` or ``decided_at`` submitted again later is a
  new intent (decided at that later time). Give ``intent_id`` to make resubmission idempotent.

Dates are ISO-8601 with an offset (``Z``, ``+00:00``; another offset is converted to UTC).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
from collections import Counter
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from executor.intents import OrderIntent
    from executor.ledger import Ledger

from trading_pipelines.cli import CliError

MANUAL_STRATEGY = "manual"
MANUAL_TIMEFRAME = "1m"
ACTION_OF_SIDE: dict[str, str] = {"buy": "open", "sell": "close"}
SIDE_OF_ACTION: dict[str, str] = {"open": "buy", "close": "sell"}
EXIT_LEDGER_FAILED = 1


def register(sub: argparse._SubParsersAction) -> None:
    """``intents submit``."""
    group = sub.add_parser("intents", help="submit order intents (manual trades, other systems)")
    actions = group.add_subparsers(dest="intents_command", required=True)
    submit = actions.add_parser(
        "submit",
        help="one JSON intent per line into the executor's ledger",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    submit.add_argument("file", metavar="FILE.jsonl", help="intents, one per line; - for stdin")
    submit.add_argument(
        "--ledger-url",
        default=None,
        help="default: TRADING_LEDGER_URL or the SQLite ledger under TRADING_HOME",
    )
    submit.add_argument(
        "--source",
        default="cli",
        help="who submits, kept in the audit log and the quarantine (default: cli)",
    )
    submit.set_defaults(run=submit_command)


def with_defaults(obj: dict[str, Any], *, now: datetime, exchange: str) -> dict[str, Any]:
    """``obj`` with the documented defaults of a manual intent filled in (not ``intent_id``)."""
    values = dict(obj)
    values.setdefault("strategy", MANUAL_STRATEGY)
    values.setdefault("exchange", exchange)
    values.setdefault("timeframe", MANUAL_TIMEFRAME)
    values.setdefault("decided_at", now)
    values.setdefault("bar_ts", values["decided_at"])
    side, action = values.get("side"), values.get("action")
    # Only a well-formed value implies the other; anything else is left to validation.
    if "action" not in values and isinstance(side, str) and side in ACTION_OF_SIDE:
        values["action"] = ACTION_OF_SIDE[side]
    if "side" not in values and isinstance(action, str) and action in SIDE_OF_ACTION:
        values["side"] = SIDE_OF_ACTION[action]
    values.setdefault("order_type", "market" if values.get("limit_price") is None else "limit")
    return values


def build_intent(obj: dict[str, Any], *, now: datetime, exchange: str) -> OrderIntent:
    """The ``OrderIntent`` of one parsed line; raises ``InvalidIntent`` with the reason."""
    from executor.intents import intent_from_mapping

    values = with_defaults(obj, now=now, exchange=exchange)
    if "intent_id" in values:
        return intent_from_mapping(values)
    intent = intent_from_mapping({**values, "intent_id": "pending"})
    # An intent naming no instance hashes as it did before instances existed.
    content = {
        k: v
        for k, v in intent.to_row().items()
        if k != "intent_id" and not (k == "instance_id" and v is None)
    }
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode())
    return dataclasses.replace(intent, intent_id=digest.hexdigest()[:24])


def _object(text: str) -> dict[str, Any]:
    from executor.intents import InvalidIntent

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        repeated = sorted(key for key, n in Counter(key for key, _ in pairs).items() if n > 1)
        if repeated:
            raise InvalidIntent(f"field(s) given twice: {', '.join(repeated)}")
        return dict(pairs)

    try:
        obj = json.loads(text, object_pairs_hook=no_duplicates)
    except InvalidIntent:
        raise
    except (ValueError, RecursionError) as err:  # JSONDecodeError, a 5000-digit int, [[[[...
        raise InvalidIntent(f"not JSON: {err}") from None
    if not isinstance(obj, dict):
        raise InvalidIntent(f"not a JSON object: {type(obj).__name__}")
    return obj


def _claimed_id(obj: dict[str, Any] | None) -> str | None:
    claimed = obj.get("intent_id") if obj else None
    return claimed if isinstance(claimed, str) and 0 < len(claimed) <= 64 else None


def _open(path: str) -> AbstractContextManager[IO[bytes]]:
    if path == "-":
        return nullcontext(sys.stdin.buffer)
    try:
        return Path(path).open("rb")
    except OSError as err:
        raise CliError(f"cannot read {path}: {err.strerror}") from err


def _shown(url: str) -> str:
    """``url`` without its password, for messages."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a database URL)"


def submit_lines(
    lines: Iterable[bytes],
    ledger: Ledger,
    *,
    source: str,
    now: datetime,
    exchange: str,
    out: IO[str],
) -> None:
    """Submit each line to ``ledger`` and print one result per non-blank line."""
    from executor.intents import InvalidIntent

    for number, raw in enumerate(lines, start=1):
        text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if not text.strip():
            continue
        obj: dict[str, Any] | None = None
        try:
            obj = _object(text)
            intent = build_intent(obj, now=now, exchange=exchange)
        except (InvalidIntent, TypeError, ValueError) as err:  # never fatal for the batch
            reason = f"line {number}: {err}"
            claimed = _claimed_id(obj)
            ledger.quarantine_intent(text, reason, source=source, intent_id=claimed)
            _emit(out, claimed, False, reason, number)
            continue
        (result,) = ledger.submit_intents([intent], source=source)
        _emit(out, result.intent_id, result.accepted, result.reason, number)


def _emit(out: IO[str], intent_id: str | None, accepted: bool, reason: str, line: int) -> None:
    record = {"intent_id": intent_id, "accepted": accepted, "reason": reason, "line": line}
    out.write(json.dumps(record) + "\n")
    out.flush()


def submit_command(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from executor.ledger import Ledger
    from trading_core.config import ConfigError, get_config, get_paths
    from trading_core.timeframes import utc_now

    if not 0 < len(args.source.strip()) <= 32:
        raise CliError(f"--source {args.source!r}: give 1 to 32 characters")
    try:
        exchange = get_config().executor.exchange
    except ConfigError as err:
        raise CliError(str(err)) from err
    url = args.ledger_url or get_paths().ledger_url()
    with _open(args.file) as stream:
        try:
            ledger = Ledger(url)
        except (SQLAlchemyError, OSError) as err:
            raise CliError(f"cannot open the ledger {_shown(url)}: {err}") from err
        try:
            submit_lines(
                stream, ledger, source=args.source, now=utc_now(), exchange=exchange, out=sys.stdout
            )
        except SQLAlchemyError as err:
            print(f"trading intents: error: the ledger failed: {err}", file=sys.stderr)
            return EXIT_LEDGER_FAILED
        finally:
            ledger.close()
    return 0
