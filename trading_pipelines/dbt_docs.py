"""dbt docs for analysts, on a copy of the warehouse: ``make docs``.

``python -m trading_pipelines.dbt_docs generate``  copy the warehouse, then ``dbt docs
generate`` on the copy into ``$TRADING_HOME/dbt_docs/target`` (index.html, manifest.json,
catalog.json, and static_index.html, one file that opens without a server).
``python -m trading_pipelines.dbt_docs serve [--port P]``  generate, then serve that folder
on http://127.0.0.1:P (default ``TRADING_DOCS_PORT``, else 8081) until Ctrl-C.

Never the file Dagster writes (ARCHITECTURE.md invariant 1): the live ``warehouse.duckdb``
(and its WAL) is copied byte for byte, never opened by DuckDB here, and dbt runs with a
profile of its own (``$TRADING_HOME/dbt_docs/profiles.yml``) that points at the copy. A copy
taken while a run was writing may be torn: it is checked by opening it, and taken again.
Before the first ``make run`` there is no warehouse: the copy is then a new database with the
raw tables only, and the site documents every model and column from the project's YAML (the
catalog adds column types once the models are built). ``TRADING_HOME`` needs no setting by
hand (default ``./.trading``); dbt gets it made absolute, as the launcher does. The manifest
Dagster loads (``dbt_project/target``) is left alone: the docs have their own target folder.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

from trading_pipelines.settings import DBT_PROJECT_DIR, TELEMETRY_OFF, paths

DOCS_FOLDER = "dbt_docs"
HOST = "127.0.0.1"
DEFAULT_PORT = 8081
PORT_VARIABLE = "TRADING_DOCS_PORT"
COPY_ATTEMPTS = 5


class DocsError(RuntimeError):
    """What stops the docs (a bad port, a warehouse that cannot be copied, dbt failing)."""


def docs_dir(home: Path) -> Path:
    return home / DOCS_FOLDER


def port_from_env(environ: dict[str, str] | os._Environ[str] | None = None) -> int:
    """``TRADING_DOCS_PORT`` (default 8081), a port from 1 to 65535."""
    env = os.environ if environ is None else environ
    text = env.get(PORT_VARIABLE)
    if text is None:
        return DEFAULT_PORT
    if not text.strip().isdigit() or not 0 < int(text) < 65536:
        raise DocsError(f"{PORT_VARIABLE}={text!r}: give a port from 1 to 65535")
    return int(text)


def _readable(copy: Path) -> bool:
    import duckdb

    try:
        with duckdb.connect(str(copy)) as conn:
            conn.execute("select count(*) from information_schema.columns").fetchall()
    except duckdb.Error:
        return False
    return True


def copy_warehouse(live: Path, copy: Path) -> bool:
    """The live warehouse (and its WAL) copied to ``copy``, checked by opening the copy;
    True if there was one. Without one, ``copy`` is a new database with the raw tables."""
    import duckdb

    from trading_core.warehouse import ensure_schema

    copy.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    wal = live.with_name(live.name + ".wal")
    copy_wal = copy.with_name(copy.name + ".wal")
    for stale in (copy, copy_wal):
        stale.unlink(missing_ok=True)
    if not live.is_file():
        with duckdb.connect(str(copy)) as conn:
            ensure_schema(conn)
        return False
    for attempt in range(COPY_ATTEMPTS):
        shutil.copyfile(live, copy)
        if wal.is_file():
            shutil.copyfile(wal, copy_wal)
        if _readable(copy):
            return True
        copy.unlink(missing_ok=True)
        copy_wal.unlink(missing_ok=True)
        time.sleep(0.5 * (attempt + 1))  # a run was writing: let it finish its checkpoint
    raise DocsError(
        f"could not copy {live} in {COPY_ATTEMPTS} attempts (a Dagster run kept writing it): "
        "try again when the run has finished"
    )


def write_profile(folder: Path, warehouse_copy: Path) -> Path:
    """A dbt profile of the project's name whose only target is the copy."""
    profile = {
        "trading_pipelines": {
            "target": "docs",
            "outputs": {
                "docs": {
                    "type": "duckdb",
                    "path": str(warehouse_copy),
                    "threads": 1,
                    "settings": {"TimeZone": "UTC"},
                }
            },
        }
    }
    path = folder / "profiles.yml"
    path.write_text(yaml.safe_dump(profile, sort_keys=False))
    return path


def generate(home: Path | None = None) -> Path:
    """Generate the docs site on a fresh copy of the warehouse; returns its folder."""
    from trading_pipelines.dbt import dbt_vars

    root = (home or paths().home).resolve()
    folder = docs_dir(root)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    copied = copy_warehouse(root / "warehouse.duckdb", folder / "warehouse.duckdb")
    write_profile(folder, folder / "warehouse.duckdb")
    target = folder / "target"
    dbt = Path(sys.executable).parent / "dbt"
    command = [
        str(dbt if dbt.exists() else shutil.which("dbt") or "dbt"),
        "docs", "generate", "--static", "--quiet",
        "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(folder),
        "--target-path", str(target), "--log-path", str(folder / "logs"),
        "--vars", json.dumps(dbt_vars()),
    ]  # fmt: skip
    env = {**os.environ, **TELEMETRY_OFF, "TRADING_HOME": str(root)}
    result = subprocess.run(command, cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise DocsError(f"dbt docs generate failed:\n{(result.stdout + result.stderr)[-3000:]}")
    source = "a copy of the warehouse" if copied else "no warehouse yet (descriptions only)"
    print(f"dbt docs generated in {target} from {source}")
    return target


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def docs_server(target: Path, port: int) -> ThreadingHTTPServer:
    """An HTTP server of the generated site on the loopback interface (port 0: any free)."""
    handler = functools.partial(_QuietHandler, directory=str(target))
    return ThreadingHTTPServer((HOST, port), handler)


def serve(port: int, home: Path | None = None) -> None:
    target = generate(home)
    try:
        server = docs_server(target, port)
    except OSError as err:
        raise DocsError(f"cannot serve on {HOST}:{port}: {err.strerror or err}") from err
    print(f"dbt docs: http://{HOST}:{server.server_address[1]}/  (Ctrl-C stops)", flush=True)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # TERM stops it as Ctrl-C does
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m trading_pipelines.dbt_docs", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("generate", help="generate the site on a copy of the warehouse")
    serving = sub.add_parser("serve", help="generate, then serve it on 127.0.0.1")
    serving.add_argument("--port", type=int, default=None, help=f"default {PORT_VARIABLE}")
    args = parser.parse_args(argv)
    try:
        if args.command == "generate":
            generate()
        else:
            port = port_from_env() if args.port is None else args.port
            if not 0 <= port < 65536:
                raise DocsError(f"--port {port}: give a port from 1 to 65535")
            serve(port)
    except DocsError as err:
        print(f"dbt docs: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
