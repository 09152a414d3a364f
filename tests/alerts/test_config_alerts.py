"""The ``alerts`` configuration section: defaults, hostile values, and the drawdown stages
that moved to the protocol."""

from __future__ import annotations

from pathlib import Path

import pytest

from trading_core.config import ConfigError, load_config
from trading_core.config_alerts import AlertsConfig, level_rank


def _s(pct: float, level: str) -> dict[str, object]:
    return {"pct": pct, "level": level}


def test_the_old_alert_stages_are_refused_naming_where_they_moved(tmp_path: Path) -> None:
    file = tmp_path / "t.yaml"
    file.write_text("alerts:\n  drawdown_stages:\n    - {pct: 8, level: CRITICAL}\n")
    with pytest.raises(ConfigError, match=r"moved to protocol\.drawdown_stages"):
        load_config(file, environ={"TRADING_HOME": str(tmp_path)})


def test_defaults_and_env_overrides() -> None:
    cfg = load_config(environ={"TRADING_HOME": "/tmp/x"}).alerts
    assert cfg.telegram_api_url == "https://api.telegram.org" and cfg.telegram_chat_ids == []
    stages = load_config(environ={"TRADING_HOME": "/tmp/x"}).protocol.drawdown_stages
    assert [(s.pct, s.level) for s in stages] == [
        (5, "WARNING"),
        (10, "CRITICAL"),
        (15, "EMERGENCY"),
        (20, "EMERGENCY"),
    ]
    env = {
        "TRADING_HOME": "/tmp/x",
        "TRADING_TELEGRAM_CHAT_IDS": " 12, -100345 ",
        "TRADING_TELEGRAM_API_URL": "http://127.0.0.1:8081/",
    }
    cfg = load_config(environ=env).alerts
    assert cfg.telegram_chat_ids == [12, -100345]
    assert cfg.telegram_api_url == "http://127.0.0.1:8081"


def test_level_rank_orders_levels_in_any_case() -> None:
    assert [level_rank(x) for x in ("info", "Warning", "CRITICAL", "emergency")] == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="allowed: \\['INFO'"):
        level_rank("fatal")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TRADING_TELEGRAM_CHAT_IDS": "1,abc"}, "telegram_chat_ids.1 (env TRADING_TELEGRAM_"),
        ({"TRADING_TELEGRAM_CHAT_IDS": "7,7"}, "duplicate chat ids [7]"),
        ({"TRADING_TELEGRAM_CHAT_IDS": "0"}, "chat id 0 is no chat"),
        ({"TRADING_TELEGRAM_CHAT_IDS": "1e30"}, "alerts.telegram_chat_ids.0"),
        ({"TRADING_TELEGRAM_CHAT_IDS": " "}, "(alerts.telegram_chat_ids) is set but empty"),
        ({"TRADING_TELEGRAM_API_URL": "ftp://x"}, "not a Bot API base URL"),
        ({"TRADING_TELEGRAM_API_URL": "https://x.org/bot123:abc"}, "without the /bot<token> part"),
    ],
)  # fmt: skip
def test_bad_environment_values_name_the_field(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(environ={"TRADING_HOME": "/tmp/x", **env})
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("dedup_seconds", float("nan"), "dedup_seconds"),
        ("dedup_seconds", -1, "greater than or equal to 0"),
        ("max_alerts_per_minute", 0, "greater than or equal to 1"),
        ("max_alerts_per_minute", "many", "valid integer"),
        ("telegram_min_level", "fatal", "'INFO', 'WARNING', 'CRITICAL' or 'EMERGENCY'"),
        ("daily_summary_utc", "25:00", "allowed: HH:MM"),
        ("confirm_seconds", 1e12, "less than or equal to 3600"),
        ("telegram_chat_ids", "12", "valid list"),
    ],
)
def test_bad_section_values_name_the_field(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError) as err:
        AlertsConfig.model_validate({field: value})
    assert field in str(err.value) and message in str(err.value)


@pytest.mark.parametrize("value", ["0", "-1", ".nan", ".inf", "fast", "1e9"])
def test_the_latency_bound_is_checked_naming_the_field(tmp_path: Path, value: str) -> None:
    file = tmp_path / "t.yaml"
    file.write_text(f"alerts:\n  latency_warning_seconds: {value}\n")
    with pytest.raises(ConfigError, match=r"alerts\.latency_warning_seconds"):
        load_config(file, environ={"TRADING_HOME": str(tmp_path)})
    assert AlertsConfig().latency_warning_seconds == 5.0
