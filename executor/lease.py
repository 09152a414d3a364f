"""One executor owns a ledger: a lease row in the ledger database itself.

The lease lives where the trading state lives, so two executors started from different
TRADING_HOMEs on the same ``TRADING_LEDGER_URL`` (the production layout) cannot both trade:

- ``acquire`` takes the row when it is free, released, expired (no heartbeat for
  ``ttl_seconds``), or held by a process of this host that is dead (a kill -9 and restart
  takes over at once). Otherwise it raises ``LeaseHeld`` naming the holder, host, pid and
  since when. Every new holder gets a larger ``token`` (the fencing token).
- ``heartbeat`` extends the lease, only while the row still carries our token.
- ``check`` runs before every order submission: the row must carry our token and have at
  least ``margin_seconds`` left; else ``LeaseLost``. A holder paused past its lease (SIGSTOP,
  a VM freeze, a long GC) therefore places nothing after it resumes, even before its own
  heartbeat notices.

Times are this host's wall clock (naive UTC); hosts sharing a ledger must keep their clocks
in step (NTP) to well under the lease length.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from executor import schema
from trading_core.timeframes import utc_now

log = logging.getLogger("executor.lease")

LEASE_NAME = "executor"


class LeaseHeld(RuntimeError):
    """Another live executor owns this ledger."""


class LeaseLost(RuntimeError):
    """This executor no longer owns the ledger: it must place nothing more and stop."""


@dataclass(frozen=True)
class LeaseHolder:
    token: int
    holder: str
    host: str
    pid: int
    mode: str
    acquired_at: datetime
    heartbeat_at: datetime
    expires_at: datetime
    released_at: datetime | None

    def describe(self) -> str:
        return (
            f"executor {self.holder} (pid {self.pid} on host {self.host}, mode {self.mode}) "
            f"since {self.acquired_at.isoformat(timespec='seconds')}Z, last heartbeat "
            f"{self.heartbeat_at.isoformat(timespec='seconds')}Z, lease until "
            f"{self.expires_at.isoformat(timespec='seconds')}Z"
        )


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _row_holder(row: sa.Row[Any] | None) -> LeaseHolder | None:
    if row is None:
        return None
    m = row._mapping
    return LeaseHolder(**{k: m[k] for k in LeaseHolder.__dataclass_fields__})


def _lock_row(conn: Connection) -> None:
    """Serialise lease changes (SQLite transactions already begin IMMEDIATE)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(74657866)"))


def current_holder(engine: Engine) -> LeaseHolder | None:
    with engine.begin() as conn:
        row = conn.execute(
            sa.select(schema.executor_lease).where(schema.executor_lease.c.name == LEASE_NAME)
        ).first()
    return _row_holder(row)


class Lease:
    """The executor's claim on its ledger (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        *,
        mode: str,
        ttl_seconds: float = 15.0,
        margin_seconds: float | None = None,
        clock: Callable[[], datetime] = utc_now,
        host: str | None = None,
        pid: int | None = None,
        is_alive: Callable[[int], bool] = pid_alive,
    ):
        if ttl_seconds <= 0:
            raise ValueError(f"lease ttl_seconds must be > 0, got {ttl_seconds}")
        self.engine = engine
        self.mode = mode
        self.ttl = timedelta(seconds=ttl_seconds)
        margin = ttl_seconds / 5 if margin_seconds is None else margin_seconds
        self.margin = timedelta(seconds=margin)
        self._clock = clock
        self.host = host or socket.gethostname()
        self.pid = os.getpid() if pid is None else pid
        self.holder = uuid.uuid4().hex[:16]
        self._is_alive = is_alive
        self.token: int | None = None
        self.lost: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------------------- taking

    def _free(self, held: LeaseHolder, now: datetime) -> str | None:
        """Why the current row may be taken over (None: it may not)."""
        if held.released_at is not None:
            return "released"
        if held.expires_at <= now:
            return "expired"
        if held.host == self.host and not self._is_alive(held.pid):
            return f"holder pid {held.pid} is dead"
        return None

    def acquire(self) -> int:
        """Take the lease or raise ``LeaseHeld``; returns the fencing token."""
        t = schema.executor_lease
        now = self._clock()
        values = {
            "holder": self.holder,
            "host": self.host,
            "pid": self.pid,
            "mode": self.mode,
            "acquired_at": now,
            "heartbeat_at": now,
            "expires_at": now + self.ttl,
            "released_at": None,
        }
        with self.engine.begin() as conn:
            _lock_row(conn)
            held = _row_holder(conn.execute(sa.select(t).where(t.c.name == LEASE_NAME)).first())
            if held is None:
                token, why = 1, "first holder"
                conn.execute(t.insert().values(name=LEASE_NAME, token=token, **values))
            else:
                free = self._free(held, now)
                if free is None:
                    raise LeaseHeld(
                        f"another executor owns this ledger: {held.describe()}. Stop it first, "
                        f"or wait until its lease expires ({self.ttl.total_seconds():g} s "
                        "without a heartbeat)"
                    )
                token, why = held.token + 1, free
                conn.execute(t.update().where(t.c.name == LEASE_NAME).values(token=token, **values))
            conn.execute(
                schema.audit_log.insert().values(
                    at=now,
                    actor="executor",
                    event="lease_acquired",
                    subject=self.holder,
                    details=json.dumps(
                        {
                            "token": token,
                            "host": self.host,
                            "pid": self.pid,
                            "mode": self.mode,
                            "why": why,
                        }
                    ),
                )
            )
        self.token = token
        log.info("ledger lease acquired", extra={"token": token, "why": why})
        return token

    # ------------------------------------------------------------------------- keeping

    def heartbeat(self) -> None:
        """Extend the lease; ``LeaseLost`` when another holder has taken it."""
        if self.token is None:
            raise LeaseLost("the lease was never acquired")
        now = self._clock()
        t = schema.executor_lease
        with self.engine.begin() as conn:
            done = conn.execute(
                t.update()
                .where(t.c.name == LEASE_NAME, t.c.token == self.token, t.c.holder == self.holder)
                .where(t.c.released_at.is_(None))
                .values(heartbeat_at=now, expires_at=now + self.ttl)
            ).rowcount
        if done != 1:
            self._lose("another executor took over the ledger lease")

    def check(self) -> None:
        """Before an order goes out: we still hold the lease, with time to spare."""
        if self.lost:
            raise LeaseLost(self.lost)
        if self.token is None:
            raise LeaseLost("the lease was never acquired")
        with self.engine.begin() as conn:
            held = _row_holder(
                conn.execute(
                    sa.select(schema.executor_lease).where(
                        schema.executor_lease.c.name == LEASE_NAME
                    )
                ).first()
            )
        if held is None or held.token != self.token or held.holder != self.holder:
            self._lose(
                "another executor took over the ledger lease"
                + (f": {held.describe()}" if held else "")
            )
        assert held is not None
        if held.expires_at - self._clock() < self.margin:
            # Our own lease ran (nearly) out, e.g. after a pause: renew before acting, which
            # fails if anyone took it meanwhile.
            self.heartbeat()

    def _lose(self, why: str) -> None:
        self.lost = why
        log.error("ledger lease lost", extra={"reason": why})
        raise LeaseLost(why)

    def release(self) -> None:
        """Give the lease up on a clean stop, so a successor need not wait."""
        self.stop_heartbeats()
        if self.token is None or self.lost:
            return
        t = schema.executor_lease
        with self.engine.begin() as conn:
            conn.execute(
                t.update()
                .where(t.c.name == LEASE_NAME, t.c.token == self.token, t.c.holder == self.holder)
                .values(released_at=self._clock())
            )

    # ------------------------------------------------------------------- heartbeat thread

    def start_heartbeats(self, every_seconds: float | None = None) -> None:
        """Renew from a background thread, so a long tick cannot let the lease lapse."""
        interval = every_seconds or self.ttl.total_seconds() / 3

        def beat() -> None:
            while not self._stop.wait(interval):
                try:
                    self.heartbeat()
                except LeaseLost:
                    return
                except Exception as exc:  # the database is briefly unavailable: retry
                    log.warning("lease heartbeat failed", extra={"error": str(exc)})

        self._thread = threading.Thread(target=beat, name="lease-heartbeat", daemon=True)
        self._thread.start()

    def stop_heartbeats(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
