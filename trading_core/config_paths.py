"""``TRADING_HOME`` and every location under it, private to its user.

Dagster, dbt and the executor resolve the same paths from the one root; ``Paths.ensure``
creates its folders with mode 0700 (and tightens one that others could open).
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# TRADING_HOME and its folders: only the owner may list or open them.
PRIVATE_DIR_MODE = 0o700


def trading_home(environ: os._Environ[str] | dict[str, str] | None = None) -> Path:
    """The one root: ``TRADING_HOME`` made absolute (default ``./.trading``)."""
    env = os.environ if environ is None else environ
    return Path(env.get("TRADING_HOME") or ".trading").expanduser().resolve()


@dataclass(frozen=True)
class Paths:
    """Every location under the one root. Dagster, dbt and the executor resolve the same ones."""

    home: Path

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def research_warehouse(self) -> Path:
        """Research results: a second DuckDB file, so research never holds the live one."""
        return self.home / "research.duckdb"

    @property
    def lake(self) -> Path:
        return self.home / "lake"

    @property
    def reports(self) -> Path:
        return self.home / "reports"

    @property
    def samples(self) -> Path:
        """Embedded offline samples, regenerated for recent days (never copies of shared data)."""
        return self.home / "samples"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def ledger_file(self) -> Path:
        return self.home / "ledger.sqlite"

    @property
    def executor_state(self) -> Path:
        return self.home / "executor"

    def ledger_url(self, environ: os._Environ[str] | dict[str, str] | None = None) -> str:
        env = os.environ if environ is None else environ
        return env.get("TRADING_LEDGER_URL") or f"sqlite:///{self.ledger_file}"

    def ensure(self) -> Paths:
        """Create the root and its folders private to the user (0700): the ledger, the
        warehouse and the reports are nobody else's to read. A folder others could open is
        tightened (with a warning); one we cannot chmod (not ours) is reported, not fatal."""
        for folder in (self.home, self.lake, self.reports, self.dagster_home, self.executor_state):
            folder.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
            mode = stat.S_IMODE(folder.stat().st_mode)
            if mode & 0o077:
                try:
                    folder.chmod(PRIVATE_DIR_MODE)
                except OSError as exc:
                    log.warning(
                        "%s is open to others (mode %o) and stays so: %s", folder, mode, exc
                    )
                else:
                    log.warning("%s was open to others (mode %o); now %o", folder, mode, 0o700)
        return self


def get_paths(environ: os._Environ[str] | dict[str, str] | None = None) -> Paths:
    return Paths(trading_home(environ))
