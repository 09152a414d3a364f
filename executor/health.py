"""The executor's health: a JSON file under ``Paths.executor_state`` rewritten every tick
(atomically), and optionally the same JSON over HTTP on 127.0.0.1.

Dagster's executor-health sensor reads the file; a load balancer or an operator can poll the
endpoint, which answers 503 once the heartbeat is older than ``stale_after_seconds``.

Writing the file never stops the executor: while it fails (a full disk) the record stays in
memory (the endpoint keeps serving it), the write is retried with backoff, the first failure
is logged and alerted, and the first write after space returns logs ``recovered``.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from executor.alerts import Alerter, RetryingWrite
from trading_core.timeframes import utc_now

HEALTH_FILE = "health.json"

log = logging.getLogger("executor.health")


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(payload, default=str, indent=1, sort_keys=True))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a partial file would hold space a full disk lacks
        raise


def read_health(state_dir: Path) -> dict[str, Any] | None:
    """The last health record written under ``state_dir`` (None if the executor never ran)."""
    path = state_dir / HEALTH_FILE
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    return record if isinstance(record, dict) else None


class Health:
    """The latest health record, published to a file and (optionally) over HTTP."""

    def __init__(
        self,
        state_dir: Path,
        *,
        stale_after_seconds: float = 30.0,
        alerter: Alerter | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.path = state_dir / HEALTH_FILE
        self.stale_after = stale_after_seconds
        self._lock = threading.Lock()
        self._record: dict[str, Any] = {}
        self._heartbeat: datetime | None = None
        self._server: ThreadingHTTPServer | None = None
        self._writes = RetryingWrite(
            f"writing the health file {self.path}", log, alerter, monotonic=monotonic
        )

    def update(self, **fields: Any) -> None:
        """Record ``fields`` with a new heartbeat and write the file. Never raises: a failed
        write keeps the record in memory and is retried (with the latest record) later."""
        now = utc_now()
        with self._lock:
            self._heartbeat = now
            self._record.update(fields)
            self._record["heartbeat"] = now.isoformat()
            snapshot = dict(self._record)
        if not self._writes.due():
            return
        try:
            write_json_atomic(self.path, snapshot)
        except Exception as exc:  # a full disk must not stop the loop (nor the stop watcher)
            self._writes.failed(exc)
        else:
            self._writes.succeeded()

    def snapshot(self) -> tuple[bool, dict[str, Any]]:
        """(fresh, record): fresh while the heartbeat is younger than the staleness limit."""
        with self._lock:
            record = dict(self._record)
            beat = self._heartbeat
        if self._writes.failing:
            record["health_file_error"] = self._writes.error
        fresh = beat is not None and (utc_now() - beat).total_seconds() < self.stale_after
        return fresh, record

    def serve(self, port: int) -> int:
        """Serve ``GET /health`` on 127.0.0.1:``port`` (0: any free port); return the port."""
        health = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.rstrip("/") not in ("/health", ""):
                    self.send_error(404)
                    return
                fresh, record = health.snapshot()
                body = json.dumps({**record, "fresh": fresh}, default=str).encode()
                self.send_response(200 if fresh else 503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return  # health polls would drown the structured log

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        return self._server.server_address[1]

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
