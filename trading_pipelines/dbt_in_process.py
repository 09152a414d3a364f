"""dbt in the run's own process: dagster-dbt's invocation without a dbt subprocess.

dagster-dbt runs every dbt command as a subprocess and turns the JSON log lines it prints
into Dagster events (``DbtCliInvocation``). That subprocess imports dbt, its adapter and the
project contracts again, although the run worker imported dbt with the code location:
about 3.5 s CPU of a 6.5 s evaluation dbt step (benchmarks/README.md, "The live loop end
to end"). Here the same command runs through dbt's programmatic entry point (``dbtRunner``)
in a worker thread, its stdout log (JSON, the subprocess's exact lines: dbt's own stdout
logger with its level, filters and scrubber) captured into a queue, and ``InProcessDbt``
hands those lines to an unchanged ``DbtCliInvocation`` as ``subprocess.Popen`` would: the
events, materializations, checks and logs Dagster shows are the subprocess's.

dbt's programmatic invocations share process-global state (flags, adapters, the event
manager, the stdout capture), so one runs at a time per process (``_ONE_AT_A_TIME``).
"""

from __future__ import annotations

import ctypes
import os
import queue
import shutil
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import dagster as dg
    from dagster_dbt import DagsterDbtTranslator, DbtCliInvocation, DbtCliResource

_ONE_AT_A_TIME = threading.Lock()
_END = b""


@contextmanager
def environ(values: Mapping[str, str]) -> Iterator[None]:
    """``values`` in ``os.environ`` for the block; the previous values (or their absence)
    restored afterwards, also when the block raises."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class _LineQueue:
    """A text stream (dbt's stdout logger writes to it) that forwards complete lines, as
    bytes, to a reader in another thread. Unbounded: dbt never blocks on a slow reader."""

    def __init__(self) -> None:
        self.lines: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self._partial = ""
        self.closed = False

    def write(self, text: str) -> int:
        self._partial += text
        *complete, self._partial = self._partial.split("\n")
        for line in complete:
            self.lines.put(line.encode() + b"\n")
        return len(text)

    def flush(self) -> None:
        return None

    def end(self) -> None:
        if self._partial:
            self.lines.put(self._partial.encode() + b"\n")
            self._partial = ""
        self.lines.put(_END)


class _Stdout:
    """What ``DbtCliInvocation`` reads from ``process.stdout``: lines of bytes until dbt is
    done; a context manager whose exit marks it closed."""

    def __init__(self, lines: queue.SimpleQueue[bytes]) -> None:
        self._lines = lines
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        while not self.closed:
            try:  # a bounded wait: the run's interrupt (a signal) is handled between waits
                line = self._lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if line == _END:
                self.closed = True
                return
            yield line

    def __enter__(self) -> _Stdout:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.closed = True


def exit_code(success: bool, exception: BaseException | None) -> int:
    """dbt's exit code for a programmatic result: 0 success, 1 a node failed, 2 dbt itself
    failed (an error before or outside the nodes: bad arguments, a parse error)."""
    if success:
        return 0
    return 1 if exception is None else 2


def _close_logs() -> None:
    """Close the log files dbt opened for the invocation (its ``dbt.log`` in the target
    folder, which a finished step removes), as the end of a dbt process would."""
    import logging

    from dbt_common.events.event_manager_client import cleanup_event_logger

    cleanup_event_logger()
    for name in ("stdout_log", "file_log"):  # dbt's loggers (dbt.events.logging)
        handlers = logging.getLogger(name).handlers
        for handler in handlers:
            handler.close()
        handlers.clear()


def _close_duckdb() -> None:
    """Close the database dbt-duckdb keeps open in the process between invocations, as the
    end of a dbt process would: the run's next step (and any other process, once this run
    ends its step) opens the warehouse afresh, with its own configuration."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # another adapter
        return
    if DuckDBConnectionManager._ENV is not None:
        DuckDBConnectionManager._ENV.close()
        DuckDBConnectionManager._ENV = None


class InProcessDbt:
    """One dbt command (``args``: the executable, then dbt's arguments, as for Popen) run in
    a thread of this process, with ``env`` on top of the process's environment for the
    invocation (set and restored by that thread: dbt reads its flags and ``env_var()`` from
    ``os.environ`` when it starts). The subset of ``subprocess.Popen`` that
    ``DbtCliInvocation`` uses: ``args``, ``stdout``, ``wait``, ``returncode``,
    ``send_signal``."""

    def __init__(self, args: Sequence[str], env: Mapping[str, str]) -> None:
        if not args:
            raise ValueError("args must start with the dbt executable")
        self.args = list(args)
        self.returncode: int | None = None
        self._env = dict(env)
        self._out = _LineQueue()
        self.stdout = _Stdout(self._out.lines)
        self._thread = threading.Thread(target=self._run, name="dbt-in-process", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from dbt.cli.main import dbtRunner
        from dbt_common.events.functions import capture_stdout_logs, stop_capture_stdout_logs

        code = 2
        try:
            with _ONE_AT_A_TIME, environ(self._env):
                capture_stdout_logs(self._out)  # type: ignore[arg-type]
                try:
                    result = dbtRunner().invoke(self.args[1:])
                finally:
                    stop_capture_stdout_logs()
                    _close_logs()
                    _close_duckdb()
            code = exit_code(result.success, result.exception)
            if result.exception is not None:
                # a plain line: dagster-dbt shows it as the dbt output it could not parse
                self._out.write(f"dbt failed: {type(result.exception).__name__}: ")
                self._out.write(f"{result.exception}\n")
        except BaseException as exc:  # never leave the reader waiting
            self._out.write(f"dbt failed: {type(exc).__name__}: {exc}\n")
        finally:
            self.returncode = code
            self._out.end()

    def wait(self, timeout: float | None = None) -> int | None:
        """dbt's exit code once it finished; None if ``timeout`` passed first."""
        self._thread.join(timeout)
        return None if self._thread.is_alive() else self.returncode

    def poll(self) -> int | None:
        return self.wait(0)

    def send_signal(self, sig: int) -> None:
        """Interrupt dbt as Ctrl-C interrupts the CLI: a KeyboardInterrupt in its thread
        (dbt cancels its open queries and stops), whatever ``sig`` is."""
        ident = self._thread.ident
        if ident is None or not self._thread.is_alive():
            return
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(ident), ctypes.py_object(KeyboardInterrupt)
        )


def in_process_invocation(
    resource: DbtCliResource,
    args: Sequence[str],
    *,
    raise_on_error: bool = True,
    manifest: Any = None,
    dagster_dbt_translator: DagsterDbtTranslator | None = None,
    context: dg.AssetExecutionContext | dg.OpExecutionContext | None = None,
    target_path: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> DbtCliInvocation:
    """What ``DbtCliResource.cli`` returns, with dbt run by ``InProcessDbt``: the same
    arguments (the context's selection, the indirect selection of its checks, the profile),
    the same target folder and dbt variables, the partial-parse state copied in first;
    ``env``: more variables for dbt (on top of the process's environment)."""
    from dagster import get_dagster_logger
    from dagster_dbt import DagsterDbtTranslator, DbtCliInvocation
    from dagster_dbt.asset_utils import (
        DBT_INDIRECT_SELECTION_ENV,
        extract_runtime_selection_from_args,
        get_updated_cli_invocation_params_for_context,
    )
    from dagster_dbt.core.dbt_cli_invocation import PARTIAL_PARSE_FILE_NAME, _get_dbt_target_path
    from dagster_dbt.dagster_dbt_translator import validate_opt_translator
    from dagster_dbt.dbt_manifest import validate_manifest

    translator = validate_opt_translator(dagster_dbt_translator) or DagsterDbtTranslator()
    cleaned, selects, excludes = extract_runtime_selection_from_args(args)
    params = get_updated_cli_invocation_params_for_context(
        context=context,
        manifest=validate_manifest(manifest) if manifest else {},
        dagster_dbt_translator=translator,
        runtime_selects=selects,
        runtime_excludes=excludes,
    )
    project_dir = Path(
        params.dbt_project.project_dir if params.dbt_project else resource.project_dir
    )
    target = target_path or resource._get_unique_target_path(context=context)
    if not target.is_absolute():  # the subprocess ran in the project folder
        target = project_dir / target
    state = _get_dbt_target_path()
    parsed = (state if state.is_absolute() else project_dir / state) / PARTIAL_PARSE_FILE_NAME
    if parsed.exists() and not (target / PARTIAL_PARSE_FILE_NAME).exists():
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(parsed, target / PARTIAL_PARSE_FILE_NAME)
    overrides = {
        **(env or {}),
        "DAGSTER_DBT_CLI": "true",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_LOG_FORMAT": "json",
        "DBT_TARGET_PATH": os.fspath(target),
        "DBT_LOG_PATH": os.fspath(target),
        **({"DBT_PROFILES_DIR": resource.profiles_dir} if resource.profiles_dir else {}),
        "DBT_PROJECT_DIR": str(project_dir),
        **(
            {DBT_INDIRECT_SELECTION_ENV: params.indirect_selection}
            if params.indirect_selection
            else {}
        ),
    }
    profile = [*(["--profile", resource.profile] if resource.profile else [])]
    profile += ["--target", resource.target] if resource.target else []
    command = [
        resource.dbt_executable,
        *resource.global_config_flags,
        *cleaned,
        *profile,
        *params.selection_args,
    ]
    invocation = DbtCliInvocation(
        process=InProcessDbt(command, overrides),  # type: ignore[arg-type]
        manifest=params.manifest,
        dagster_dbt_translator=params.dagster_dbt_translator,
        project_dir=project_dir,
        target_path=target,
        raise_on_error=raise_on_error,
        cli_version=resource._cli_version,
        project=params.dbt_project,
        context=context,
        adapter=None,
    )
    # dagster-dbt's own line for a subprocess, in the run's log, saying where dbt runs
    get_dagster_logger().info(f"Running dbt command (in process): `{invocation.dbt_command}`.")
    return invocation
