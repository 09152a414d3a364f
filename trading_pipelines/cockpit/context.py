"""What every cockpit route reads: the configuration, the ledger, the snapshot, the guards;
and the views built from them that several pages share (status, instances, the protocol's
stage and the operator overrides)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from executor import control, override_ledger
from executor.health import read_health
from executor.ledger import Ledger
from executor.overrides import OverrideError, Overrides
from trading_core.config import Paths, TradingConfig
from trading_core.timeframes import utc_now
from trading_pipelines.cockpit.instances import InstanceState, instance_rows, read_today_pnl
from trading_pipelines.cockpit.ledger_reader import LedgerReader
from trading_pipelines.cockpit.protocol_view import override_words, protocol_stage
from trading_pipelines.cockpit.security import RateLimiter, WriteToken
from trading_pipelines.cockpit.snapshot import SnapshotReader, snapshot_path

HEALTH_STALE_SECONDS = 30.0


@dataclass
class Cockpit:
    config: TradingConfig
    paths: Paths
    ledger: Ledger
    reader: LedgerReader
    snapshot: SnapshotReader
    token: WriteToken
    limiter: RateLimiter

    @classmethod
    def open(cls, paths: Paths, config: TradingConfig, token: WriteToken) -> Cockpit:
        ledger = Ledger(paths.ledger_url())
        cockpit = config.cockpit
        return cls(
            config=config,
            paths=paths,
            ledger=ledger,
            reader=LedgerReader(ledger, config.executor.quote_currency),
            snapshot=SnapshotReader(snapshot_path(paths.home)),
            token=token,
            limiter=RateLimiter(cockpit.rate_limit_per_second, cockpit.rate_limit_burst),
        )

    def executor_status(self) -> str:
        """running | stale (no heartbeat for 30 s) | stopped | never started."""
        health = read_health(self.paths.executor_state)
        if health is None:
            return "never started"
        if health.get("stopped"):
            return "stopped"
        try:
            beat = datetime.fromisoformat(str(health.get("heartbeat")))
        except ValueError:
            return "stale"
        if beat.tzinfo is not None:
            beat = beat.replace(tzinfo=None) - (beat.utcoffset() or timedelta())
        fresh = utc_now() - beat <= timedelta(seconds=HEALTH_STALE_SECONDS)
        return "running" if fresh else "stale"

    def overrides(self) -> tuple[Overrides | None, str | None]:
        """The stored operator overrides, or None and why they cannot be read."""
        try:
            return override_ledger.load(self.ledger), None
        except OverrideError as exc:
            return None, str(exc)

    def instances(
        self, state: str, stage: dict[str, Any], overrides: Overrides | None
    ) -> list[dict[str, Any]]:
        """One row per strategy instance (``instances.instance_rows``)."""
        now = self.ledger.now()
        subs = self.ledger.positions()
        open_subs = self.ledger.open_positions()
        midnight = datetime.combine(now.date(), time())
        today = read_today_pnl(self.ledger, subs, self.reader.quote, midnight)
        live = overrides.active(now) if overrides is not None else Overrides()
        streak = stage.get("streak", {}).get("instances", {})
        facts = InstanceState(
            executor_status=self.executor_status(),
            trading_state=state,
            paused={i: h.to_dict() for i, h in live.paused.items()},
            phases={i: s["phase"] for i, s in streak.items()},
            tier=stage["tier"],
            tier_text=stage["tier_text"],
        )
        return instance_rows(self.config, open_subs, today, facts)

    def stage(self, equity: float) -> dict[str, Any]:
        """The risk protocol's stage (``protocol_view.protocol_stage``)."""
        return protocol_stage(self.config, self.ledger.protocol_state(), equity, self.ledger.now())

    def instances_now(self) -> list[dict[str, Any]]:
        """The instance rows alone (what ``status`` has under ``instances``)."""
        state = str(self.ledger.trading_state())
        return self.instances(state, self.stage(self.reader.account().equity), self.overrides()[0])

    def status(self) -> dict[str, Any]:
        """``executor.control.status`` (the ``trading control status`` contract) with the
        equity, positions valued, the protocol's stage and the overrides in words, and the
        strategy instances."""
        base = control.status(self.ledger)
        positions = self.reader.positions()
        equity = self.reader.equity(max_points=2)
        stage = self.stage(equity["equity"])
        overrides, unreadable = self.overrides()
        words = (
            override_words(overrides, self.ledger.now())
            if overrides is not None
            else [f"Operator overrides unreadable: {unreadable}"]
        )
        return {
            **base,
            "equity": equity["equity"],
            "today_pnl": equity["today_pnl"],
            "drawdown": equity["current_drawdown"],
            "positions": positions,
            "protocol_stage": stage,
            "override_words": words,
            "instances": self.instances(base["trading_state"], stage, overrides),
        }
