"""Pay a process's first-dbt-invocation costs while an armed evaluation waits for its close.

A run worker starts dbt once (``dbt_in_process``), and that first invocation pays, once per
process, for work the next one would not: importing dbt's command, task and parser modules
(the code location imported only dagster-dbt's part of dbt) and building the JSON schemas dbt
validates ``dbt_project.yml``, the packages, the project flags, the profile and the
selectors against (``dbtClassMixin.json_schema``, cached per class with ``functools``). On
the evaluation's dbt step that was about 2 s of a 5-8 s step on 2 cores (py-spy over the
live-loop benchmark; a cold ``dbt ls`` in one process: 6.8 s, after this warm-up 1.5 s).

An armed evaluation run spends the seconds before its bar closes waiting
(``assets.ingest.bar_close``): ``warm_up_in_background`` does that work then, in a daemon
thread, once per process. It only fills caches; the dbt invocation that follows is the
same, and if it starts before the warm-up ends it shares the imports already done.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger("trading_pipelines.dbt_warm_up")

_STARTED = threading.Lock()
_thread: threading.Thread | None = None


def warm_up() -> None:
    """Import what ``dbt build`` needs and build the JSON schemas it validates with."""
    import dbt.cli.main
    import dbt.contracts.graph.manifest
    import dbt.parser.manifest
    import dbt.task.build  # noqa: F401
    from dbt.adapters.duckdb.credentials import DuckDBCredentials
    from dbt.contracts.project import PackageConfig, Project, ProjectFlags
    from dbt.contracts.selection import SelectorFile

    for contract in (Project, PackageConfig, ProjectFlags, DuckDBCredentials, SelectorFile):
        contract.json_schema()


def _warm_up_quietly() -> None:
    try:
        warm_up()
    except Exception:  # a cache left cold costs time, never the run
        log.warning("dbt warm-up failed; the dbt step pays for it", exc_info=True)


def warm_up_in_background() -> threading.Thread:
    """Start ``warm_up`` in a daemon thread, once per process; return that thread."""
    global _thread
    with _STARTED:
        if _thread is None:
            _thread = threading.Thread(target=_warm_up_quietly, name="dbt-warm-up", daemon=True)
            _thread.start()
        return _thread
