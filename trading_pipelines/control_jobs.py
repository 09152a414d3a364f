"""The operator overrides as Dagster jobs, launched from the UI's launchpad with their config:
``control_set_risk``, ``control_blacklist``, ``control_unblacklist``, ``control_force_exit``,
``control_pause_instance``, ``control_resume_instance``, ``control_review``.

Each job records the same ledger command as ``trading control`` (checked the same way, by
``executor.override_ledger.issue``) and the executor applies it on its next tick. The
command's ``who`` is ``dagster:<operator>`` and its arguments say ``source: dagster`` with
the run id: the Dagster UI has no authentication of its own, so the operator name is what
the person typed, nothing more. Keep the webserver on loopback (``make run`` binds it to
127.0.0.1) and reach it through an SSH tunnel, never an open port.

A command the executor would refuse (an unknown symbol, a NaN or negative scale, a scale
above the tier's limit, a duplicate, a time already past) fails the run with the reason;
nothing is recorded.
"""

from collections.abc import Callable
from typing import Any

import dagster as dg
from pydantic import Field

from executor.ledger import Ledger
from executor.overrides import OverrideError
from trading_core.config import get_config
from trading_pipelines.jobs import LIVE_PRIORITY, PRIORITY_TAG
from trading_pipelines.resources.ledger import LedgerResource

SOURCE = "dagster"
UI_WARNING = (
    "The Dagster UI has no authentication: the operator name is what was typed. Keep the "
    "webserver on loopback (127.0.0.1)."
)


class ControlConfig(dg.Config):
    """Who and why, kept in the audit with the command."""

    operator: str = Field(description="your name: the command's who is dagster:<operator>")
    reason: str = Field(description="why (kept in the audit)")


class SetRiskConfig(ControlConfig):
    scale: float | None = Field(
        default=None, description="a multiple of the tier's risk per trade (e.g. 0.5)"
    )
    risk_per_trade: float | None = Field(
        default=None, description="risk per trade as a fraction of equity (e.g. 0.005)"
    )
    clear: bool = Field(default=False, description="back to the tier's risk per trade")
    duration: str | None = Field(default=None, description="for how long: 30m, 2h, 1d")
    until: str | None = Field(default=None, description="until an ISO time (UTC)")


class SymbolConfig(ControlConfig):
    symbol: str = Field(description="unified symbol, e.g. BTC/USDT")


class TimedSymbolConfig(SymbolConfig):
    duration: str | None = Field(default=None, description="for how long: 30m, 2h, 1d")
    until: str | None = Field(default=None, description="until an ISO time (UTC)")


class ForceExitConfig(SymbolConfig):
    instance: str | None = Field(default=None, description="only this instance's position")


class ReviewConfig(ControlConfig):
    instance: str | None = Field(
        default=None, description="end this instance's losing-streak demotion (paper)"
    )


class InstanceConfig(ControlConfig):
    instance: str = Field(description="the strategy instance id")


class TimedInstanceConfig(InstanceConfig):
    duration: str | None = Field(default=None, description="for how long: 30m, 2h, 1d")
    until: str | None = Field(default=None, description="until an ISO time (UTC)")


def _who(config: ControlConfig) -> str:
    name = config.operator.strip()
    if not name or len(name) > 48:
        raise dg.Failure(f"operator must be 1..48 characters, got {len(name)}")
    return f"dagster:{name}"


def _record(
    context: dg.OpExecutionContext,
    ledger_resource: LedgerResource,
    config: ControlConfig,
    command: str,
    **fields: Any,
) -> int:
    from executor import override_ledger

    who = _who(config)
    with ledger_resource.open() as ledger:
        try:
            if command == "review":
                command_id = _review(ledger, who, config.reason, context.run_id, **fields)
            else:
                command_id = override_ledger.issue(
                    ledger, get_config(), command, who=who, why=config.reason,
                    source=SOURCE, run_id=context.run_id, **fields,
                )  # fmt: skip
        except OverrideError as exc:
            raise dg.Failure(f"{command}: {exc}; nothing recorded") from None
    context.log.info(f"command {command_id} ({command}) recorded by {who}. {UI_WARNING}")
    context.add_output_metadata(
        {"command_id": command_id, "command": command, "who": who, "note": UI_WARNING}
    )
    return command_id


def _review(ledger: Ledger, who: str, why: str, run_id: str, instance: str | None) -> int:
    from executor import override_ledger

    if not why.strip():
        raise OverrideError("reason must not be empty (it is kept in the audit)")
    args: dict[str, Any] = {"source": SOURCE, "run_id": run_id}
    if instance is not None:
        known = override_ledger.context_for(get_config(), None, ledger.now()).instances
        if instance not in known:
            raise OverrideError(f"unknown instance {instance!r}; configured: {sorted(known)}")
        args["instance"] = instance
    for other in ledger.commands(pending_only=True):
        if other.command == "review" and other.args.get("instance") == instance:
            raise OverrideError(f"command {other.id} (review) is already pending")
    return ledger.add_command("review", who, why, None, args)


def _job(
    name: str, command: str, config_type: type[ControlConfig], fields: Callable[[Any], dict]
) -> dg.JobDefinition:
    @dg.op(name=f"{name}_op", description=f"Record a {command} operator command in the ledger.")
    def record(
        context: dg.OpExecutionContext,
        ledger: LedgerResource,
        config: config_type,  # type: ignore[valid-type]
    ) -> int:
        return _record(context, ledger, config, command, **fields(config))

    @dg.job(
        name=name,
        description=f"trading control {command}, from the launchpad (who and why required). "
        + UI_WARNING,
        # first out of the run queue: an operator waits for it
        tags={"trading/control": command, PRIORITY_TAG: LIVE_PRIORITY},
    )
    def control_job() -> None:
        record()

    return control_job


def _timed(c: Any) -> dict[str, Any]:
    return {"duration": c.duration, "until": c.until}


CONTROL_JOBS: list[dg.JobDefinition] = [
    _job("control_set_risk", "set-risk", SetRiskConfig,
         lambda c: {"scale": c.scale, "risk_per_trade": c.risk_per_trade, "clear": c.clear,
                    **_timed(c)}),
    _job("control_blacklist", "blacklist", TimedSymbolConfig,
         lambda c: {"symbol": c.symbol, **_timed(c)}),
    _job("control_unblacklist", "unblacklist", SymbolConfig, lambda c: {"symbol": c.symbol}),
    _job("control_force_exit", "force-exit", ForceExitConfig,
         lambda c: {"symbol": c.symbol, "instance": c.instance}),
    _job("control_pause_instance", "pause-instance", TimedInstanceConfig,
         lambda c: {"instance": c.instance, **_timed(c)}),
    _job("control_resume_instance", "resume-instance", InstanceConfig,
         lambda c: {"instance": c.instance}),
    _job("control_review", "review", ReviewConfig, lambda c: {"instance": c.instance}),
]  # fmt: skip
