"""What every cockpit route reads: the configuration, the ledger, the snapshot, the guards;
and the views built from them that several pages share (status, instances)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from executor import control
from executor.health import read_health
from executor.ledger import Ledger
from trading_core.config import Paths, TradingConfig
from trading_core.timeframes import utc_now
from trading_pipelines.cockpit.ledger_reader import LedgerReader
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

    def instances(
        self, positions: list[dict[str, Any]], equity: dict[str, Any], state: str
    ) -> list[dict[str, Any]]:
        """One row per strategy instance: today the configured strategy, ``default``."""
        cfg = self.config
        return [
            {
                "instance": "default",
                "strategy": cfg.strategy.name,
                "timeframe": cfg.strategy.timeframe,
                "pairs": list(cfg.market.symbols),
                "exchange": cfg.executor.exchange,
                "mode": cfg.executor.mode,
                "tier": None,
                "positions": [
                    {"symbol": p["symbol"], "quantity": p["quantity"]} for p in positions
                ],
                "unrealized_pnl": sum(p["unrealized_pnl"] for p in positions),
                "today_pnl": equity["today_pnl"],
                "risk_level": state,
                "status": self.executor_status(),
            }
        ]

    def status(self) -> dict[str, Any]:
        """``executor.control.status`` (the ``trading control status`` contract) with the
        equity, positions valued, and the strategy instances."""
        base = control.status(self.ledger)
        positions = self.reader.positions()
        equity = self.reader.equity(max_points=2)
        return {
            **base,
            "equity": equity["equity"],
            "today_pnl": equity["today_pnl"],
            "drawdown": equity["current_drawdown"],
            "positions": positions,
            "instances": self.instances(positions, equity, base["trading_state"]),
        }
