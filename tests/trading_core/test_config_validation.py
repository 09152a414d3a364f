"""Every bad configuration fails at load time, naming the field (and its variable) and what is
allowed; TRADING_HOME is private to its user."""

from __future__ import annotations

import logging
import re
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from trading_core.config import (
    ENV_OVERRIDES,
    ConfigError,
    Paths,
    TradingConfig,
    load_config,
)
from trading_core.strategies import STRATEGIES
from trading_core.timeframes import TIMEFRAME_SECONDS


def load_yaml(tmp_path: Path, tree: dict | str, **env: str) -> TradingConfig:
    file = tmp_path / "conf.yaml"  # not trading.yaml: load_env must not find it
    file.write_text(tree if isinstance(tree, str) else yaml.safe_dump(tree))
    return load_config(file, environ={"TRADING_HOME": str(tmp_path), **env})


def load_env(tmp_path: Path, **env: str) -> TradingConfig:
    return load_config(environ={"TRADING_HOME": str(tmp_path), **env})


def float_fields() -> list[str]:
    return [
        f"{section}.{name}"
        for section, sf in TradingConfig.model_fields.items()
        for name, info in sf.annotation.model_fields.items()  # type: ignore[union-attr]
        if "float" in str(info.annotation)
    ]


def test_the_defaults_load_and_every_strategy_loads_with_its_own_defaults(tmp_path: Path) -> None:
    assert load_env(tmp_path) == TradingConfig()
    assert TradingConfig().strategy.params == {"fast": 5, "slow": 13, "signal": 4}
    for name in STRATEGIES:
        assert load_env(tmp_path, TRADING_STRATEGY=name).strategy.name == name


def test_the_readme_examples_load(
    repo_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo_root)  # the examples use ../shared/data relative to the checkout
    readme = (repo_root / "README.md").read_text()
    section = readme.split("## Configuration and real exchanges")[1].split("\n## ")[0]
    blocks = re.findall(r"```(\w*)\n(.*?)```", section, re.S)
    commands = [b.replace("\\\n", " ") for lang, b in blocks if not lang and "make run" in b]
    documents = [b for lang, b in blocks if lang == "yaml"]
    assert len(commands) == 2 and len(documents) == 1
    for command in commands:
        env = dict(re.findall(r"(TRADING_\w+)=(\S+)", command))
        assert set(env) <= set(ENV_OVERRIDES)
        config = load_env(tmp_path, **env)
        assert config.market.source == env["TRADING_MARKET_SOURCE"]
    config = load_yaml(tmp_path, documents[0])
    assert config.market.replay_dir is not None and config.strategy.params["fast"] == 12


def test_min_notional_above_max_notional_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_yaml(tmp_path, {"risk": {"min_notional": 10, "max_notional": 5}})
    assert "risk.max_notional: 5.0 is below min_notional (10.0)" in str(err.value)
    assert "allowed: max_notional >= min_notional" in str(err.value)
    assert load_yaml(tmp_path, {"risk": {"min_notional": 5, "max_notional": 5}})


def test_max_notional_inf_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"risk.max_notional: Input should be a finite number"):
        load_yaml(tmp_path, "risk:\n  max_notional: .inf\n")


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan"])
@pytest.mark.parametrize("field", float_fields())
def test_no_float_field_takes_nan_or_infinity(tmp_path: Path, field: str, value: str) -> None:
    section, name = field.split(".")
    with pytest.raises(ConfigError) as err:
        load_yaml(tmp_path, f"{section}:\n  {name}: {value}\n")
    assert re.search(
        rf"{re.escape(field)}( \(env \w+\))?: Input should be a finite number", str(err.value)
    )


def test_strategy_params_are_checked_by_the_strategy(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_yaml(tmp_path, {"strategy": {"params": {"fast": -3}}})
    message = str(err.value)
    assert "strategy.params: invalid parameters for strategy 'macd'" in message
    assert "fast: Input should be greater than or equal to 2 (got -3" in message
    with pytest.raises(ConfigError, match=r"moon: unknown parameter; allowed: fast, slow, "):
        load_yaml(tmp_path, {"strategy": {"params": {"moon": 1}}})
    with pytest.raises(ConfigError, match=r"oversold \(80.0\) must be < overbought"):
        load_yaml(tmp_path, {"strategy": {"name": "swing", "params": {"oversold": 80}}})
    with pytest.raises(ConfigError, match=r"strategy.params: weights.macd must be a finite number"):
        load_yaml(tmp_path, "strategy:\n  name: composite\n  params: {weights: {macd: .nan}}\n")
    # The macd defaults belong to macd: another strategy without params gets its own.
    assert load_env(tmp_path, TRADING_STRATEGY="grid").strategy.params == {}


def test_an_unknown_strategy_lists_the_registered_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_env(tmp_path, TRADING_STRATEGY="moonshot")
    assert "strategy.name (env TRADING_STRATEGY): unknown strategy 'moonshot'" in str(err.value)
    assert f"allowed: {sorted(STRATEGIES)}" in str(err.value)


def test_a_strategy_timeframe_must_be_known(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_yaml(tmp_path, {"strategy": {"timeframe": "7x"}})
    assert "strategy.timeframe (env TRADING_STRATEGY_TIMEFRAME): unknown timeframe '7x'" in str(
        err.value
    )
    assert f"allowed: {list(TIMEFRAME_SECONDS)}" in str(err.value)


@pytest.mark.parametrize("zone", ["Mars/Olympus", "Europe", "../etc/passwd", "/etc/localtime"])
def test_the_reddit_timezone_must_be_an_iana_zone(tmp_path: Path, zone: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_env(tmp_path, TRADING_REDDIT_TIMEZONE=zone)
    message = str(err.value)
    assert "social.reddit_source_timezone (env TRADING_REDDIT_TIMEZONE)" in message
    assert f"unknown time zone {zone!r}; allowed: an IANA time zone name" in message
    assert load_env(tmp_path, TRADING_REDDIT_TIMEZONE="UTC").social.reddit_source_timezone == "UTC"


@pytest.mark.parametrize(
    "url",
    [
        "localhost:3000",
        "127.0.0.1:3000",
        "ftp://127.0.0.1:3000",
        "http://",
        "http://127.0.0.1:port",
        "http://127.0.0.1:99999",
        "http://user:pw@127.0.0.1:3000",
        "http://127.0.0.1:3000/?x=1",
        "http://127.0.0.1 :3000",
        "not a url",
    ],
)
def test_the_dagster_url_must_be_http_host_port(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_env(tmp_path, TRADING_DAGSTER_URL=url)
    assert "executor.dagster_url (env TRADING_DAGSTER_URL): not a Dagster webserver URL" in str(
        err.value
    )
    assert "allowed: http(s)://host[:port]" in str(err.value)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:3000", "https://dagster.example.org", "http://[::1]:3000/dagster"]
)
def test_http_dagster_urls_load(tmp_path: Path, url: str) -> None:
    assert load_env(tmp_path, TRADING_DAGSTER_URL=url).executor.dagster_url == url


@pytest.mark.parametrize(
    ("section", "var"),
    [
        ("market", "TRADING_REPLAY_DIR"),
        ("social", "TRADING_SOCIAL_DIR"),
        ("onchain", "TRADING_ONCHAIN_DIR"),
    ],
)
def test_a_missing_replay_dir_is_refused(tmp_path: Path, section: str, var: str) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(ConfigError) as err:
        load_yaml(tmp_path, {section: {"replay_dir": str(missing)}})
    assert f"{section}.replay_dir (env {var}): {missing} does not exist" in str(err.value)
    assert "allowed: an existing directory" in str(err.value)
    with pytest.raises(ConfigError, match=f"{var}.*is not a directory"):
        load_env(tmp_path, **{var: str(tmp_path / "conf.yaml")})


def test_the_shared_replay_dirs_load(tmp_path: Path, shared_data: Path) -> None:
    config = load_env(
        tmp_path,
        TRADING_MARKET_SOURCE="replay",
        TRADING_REPLAY_DIR=str(shared_data / "market"),
        TRADING_EXCHANGES="binance",  # a replay needs a file for every configured series
        TRADING_SYMBOLS="BTC/USDT,ETH/USDT",
        TRADING_TIMEFRAMES="1h",
        TRADING_STRATEGY_TIMEFRAME="1h",
        TRADING_EXECUTOR_EXCHANGE="binance",
        TRADING_SOCIAL_DIR=str(shared_data / "social"),
        TRADING_ONCHAIN_DIR=str(shared_data / "onchain"),
    )
    assert config.market.replay_dir == shared_data / "market"


def test_a_news_feed_is_a_url_or_an_existing_file(tmp_path: Path, shared_data: Path) -> None:
    feed = str(next((shared_data / "news").glob("*.xml")))
    with pytest.raises(ConfigError) as err:
        load_env(tmp_path, TRADING_NEWS_FEEDS=f"{feed},https://example.org/rss,missing.xml")
    message = str(err.value)
    assert (
        "news.feeds.2 (env TRADING_NEWS_FEEDS): 'missing.xml' is neither an http(s) URL" in message
    )
    assert "allowed: feed URLs (http(s)://host/...) or paths of feed files" in message
    assert "news.feeds.0" not in message and "news.feeds.1" not in message
    with pytest.raises(ConfigError, match=r"news\.feeds\.0 "):
        load_env(tmp_path, TRADING_NEWS_FEEDS="https://")
    feeds = load_env(tmp_path, TRADING_NEWS_FEEDS=f"{feed},https://example.org/rss").news.feeds
    assert feeds == [feed, "https://example.org/rss"]


@pytest.mark.parametrize("raw", ["", "   "])
@pytest.mark.parametrize("var", list(ENV_OVERRIDES))
def test_a_variable_set_but_empty_is_an_error(tmp_path: Path, var: str, raw: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_env(tmp_path, **{var: raw})
    field = ENV_OVERRIDES[var][0]
    assert str(err.value).startswith(f"{var} ({field}) is set but empty; allowed: ")
    assert f"or unset {var}" in str(err.value)


def test_empty_variables_say_what_is_allowed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"allowed: comma-separated values, .* default \['sim'\]"):
        load_env(tmp_path, TRADING_EXCHANGES="")
    with pytest.raises(ConfigError, match=r"allowed: one of \['sim', 'replay', 'ccxt'\]"):
        load_env(tmp_path, TRADING_MARKET_SOURCE="")
    with pytest.raises(ConfigError, match=r"TRADING_NEWS_FEEDS \(news.feeds\): .*list is empty"):
        load_env(tmp_path, TRADING_NEWS_FEEDS=" , ,")


def test_a_yaml_syntax_error_is_one_line_naming_file_line_and_column(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_yaml(tmp_path, "market:\n  source: sim\n  symbols: [BTC/USDT\n  x: 1\n")
    message = str(err.value)
    assert (
        message == f"{tmp_path / 'conf.yaml'}:4:4: invalid YAML: expected ',' or ']', but got ':'"
    )
    assert err.value.__cause__ is None and err.value.__suppress_context__


@pytest.mark.parametrize(
    ("field", "values"),
    [("exchanges", ["binance", "binance"]), ("symbols", ["BTC/USDT", "ETH/USDT", "BTC/USDT"])],
)
def test_duplicate_list_entries_are_refused(tmp_path: Path, field: str, values: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        load_yaml(tmp_path, {"market": {field: values}})
    assert f"market.{field} (env TRADING_{field.upper()}): duplicate entries" in str(err.value)


@pytest.mark.parametrize("value", [0, -1])
def test_field_limits_still_hold(tmp_path: Path, value: int) -> None:
    with pytest.raises(ConfigError, match=r"executor.tick_seconds: Input should be greater than 0"):
        load_yaml(tmp_path, {"executor": {"tick_seconds": value}})


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_trading_home_and_its_folders_are_created_private(tmp_path: Path) -> None:
    paths = Paths(tmp_path / "a" / "home").ensure()
    for folder in (paths.home, paths.lake, paths.reports, paths.dagster_home, paths.executor_state):
        assert mode(folder) == 0o700, folder


def test_an_open_trading_home_is_tightened(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = tmp_path / "home"
    (home / "lake").mkdir(parents=True)
    home.chmod(0o755)
    (home / "lake").chmod(0o777)
    with caplog.at_level(logging.WARNING, logger="trading_core.config_paths"):
        paths = Paths(home).ensure()
    assert mode(paths.home) == 0o700 and mode(paths.lake) == 0o700
    assert f"{home} was open to others (mode 755); now 700" in caplog.text
    caplog.clear()
    Paths(home).ensure()  # already private: nothing to say
    assert caplog.text == ""


# --- the market's time and the replay directory (issue 10) -----------------------------------


def replay_env(shared_data: Path, **env: str) -> dict[str, str]:
    """The README's replay example, with ``env`` on top."""
    return {
        "TRADING_MARKET_SOURCE": "replay",
        "TRADING_REPLAY_DIR": str(shared_data / "market"),
        "TRADING_EXCHANGES": "binance",
        "TRADING_SYMBOLS": "BTC/USDT,ETH/USDT",
        "TRADING_TIMEFRAMES": "1h",
        "TRADING_STRATEGY_TIMEFRAME": "1h",
        "TRADING_EXECUTOR_EXCHANGE": "binance",
        "TRADING_START_DATE": "2021-04-05",
        **env,
    }


@pytest.mark.parametrize("days_ahead", [0, 1, 3650])
def test_a_start_date_today_or_later_names_trading_start_date(
    tmp_path: Path, days_ahead: int
) -> None:
    today = datetime.now(UTC).date()
    day = today + timedelta(days=days_ahead)
    with pytest.raises(ConfigError) as err:
        load_env(tmp_path, TRADING_START_DATE=day.isoformat())
    message = str(err.value)
    assert f"market.start_date (env TRADING_START_DATE): {day} is not in the past" in message
    assert f"allowed: a date before {today}" in message
    yesterday = today - timedelta(days=1)
    assert load_env(tmp_path, TRADING_START_DATE=yesterday.isoformat()).market.start_date == (
        yesterday
    )


def test_as_of_in_the_future_or_before_the_start_date_names_trading_market_as_of(
    tmp_path: Path,
) -> None:
    future = (datetime.now(UTC) + timedelta(hours=1)).replace(tzinfo=None)
    with pytest.raises(ConfigError) as err:
        load_env(tmp_path, TRADING_MARKET_AS_OF=future.isoformat())
    assert "market.as_of (env TRADING_MARKET_AS_OF): " in str(err.value)
    assert "is in the future" in str(err.value)
    with pytest.raises(ConfigError) as err:
        load_env(tmp_path, TRADING_START_DATE="2024-06-01", TRADING_MARKET_AS_OF="2024-05-31T23:00")
    assert (
        "market.as_of (env TRADING_MARKET_AS_OF): 2024-05-31 23:00:00 is before market.start_date "
        "(env TRADING_START_DATE) 2024-06-01" in str(err.value)
    )
    with pytest.raises(
        ConfigError, match=r"as_of \(env TRADING_MARKET_AS_OF\): Input should be a valid datetime"
    ):
        load_env(tmp_path, TRADING_MARKET_AS_OF="last tuesday")


def test_as_of_with_an_offset_is_naive_utc(tmp_path: Path) -> None:
    config = load_env(tmp_path, TRADING_MARKET_AS_OF="2025-06-01T14:00:00+02:00")
    assert config.market.as_of == datetime(2025, 6, 1, 12)
    config = load_env(tmp_path, TRADING_MARKET_AS_OF="2025-06-01T12:00:00Z")
    assert config.market.as_of == datetime(2025, 6, 1, 12)


@pytest.mark.parametrize("pace", ["0", "-5", "nan", "inf", "1e9"])
def test_a_pace_that_is_not_a_positive_finite_number_names_trading_replay_pace(
    tmp_path: Path, pace: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load_env(tmp_path, TRADING_REPLAY_PACE=pace)
    assert "market.replay_pace_seconds (env TRADING_REPLAY_PACE): Input should be" in str(err.value)


def test_a_pace_that_is_not_a_number_and_an_empty_pace_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"TRADING_REPLAY_PACE \(market.replay_pace_seconds\)"):
        load_env(tmp_path, TRADING_REPLAY_PACE="fast")
    with pytest.raises(ConfigError, match=r"set but empty; allowed: a number, or unset"):
        load_env(tmp_path, TRADING_REPLAY_PACE=" ")
    assert load_env(tmp_path, TRADING_REPLAY_PACE="2.5").market.replay_pace_seconds == 2.5


def test_a_replay_anchor_without_as_of_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"TRADING_REPLAY_STARTED_AT\) is set without as_of"):
        load_env(tmp_path, TRADING_REPLAY_STARTED_AT="2025-06-01T00:00:00")


def test_the_readme_replay_example_loads(tmp_path: Path, shared_data: Path) -> None:
    config = load_env(tmp_path, **replay_env(shared_data))
    assert config.market.symbols == ["BTC/USDT", "ETH/USDT"]
    assert config.market.replay_pace_seconds == 60.0


@pytest.mark.parametrize(
    ("env", "variable", "problem"),
    [
        (
            {"TRADING_EXCHANGES": "kraken"},
            "TRADING_EXCHANGES",
            "no replay file of exchange 'kraken'",
        ),
        (
            {"TRADING_SYMBOLS": "BTC/USDT,SOL/USDT"},
            "TRADING_SYMBOLS",
            "no replay file of binance SOL/USDT",
        ),
        (
            {"TRADING_TIMEFRAMES": "1h,5m"},
            "TRADING_TIMEFRAMES",
            "no replay file of binance BTC/USDT 5m",
        ),
    ],
)
def test_a_series_without_a_replay_file_names_its_variable_and_lists_the_directory(
    tmp_path: Path, shared_data: Path, env: dict[str, str], variable: str, problem: str
) -> None:
    if variable == "TRADING_EXCHANGES":
        env = {**env, "TRADING_EXECUTOR_EXCHANGE": "kraken"}
    with pytest.raises(ConfigError) as err:
        load_env(tmp_path, **replay_env(shared_data, **env))
    message = str(err.value)
    assert f"(env {variable}): {problem}" in message
    assert f"{shared_data / 'market'} has: binance ADA/USDT [1h, 4h, 1d]" in message
    assert "binance XRP/USDT:USDT [5m]" in message


def test_a_strategy_timeframe_that_is_not_ingested_is_refused(
    tmp_path: Path, shared_data: Path
) -> None:
    with pytest.raises(ConfigError) as err:
        load_env(tmp_path, **replay_env(shared_data, TRADING_STRATEGY_TIMEFRAME="4h"))
    assert (
        "strategy.timeframe (env TRADING_STRATEGY_TIMEFRAME): '4h' is not ingested; allowed: one "
        "of market.timeframes (env TRADING_TIMEFRAMES) ['1h']" in str(err.value)
    )


def test_a_paper_executor_on_an_exchange_that_is_not_ingested_is_refused(
    tmp_path: Path, shared_data: Path
) -> None:
    env = replay_env(shared_data)
    del env["TRADING_EXECUTOR_EXCHANGE"]  # the default: sim
    with pytest.raises(ConfigError) as err:
        load_env(tmp_path, **env)
    assert (
        "executor.exchange (env TRADING_EXECUTOR_EXCHANGE): a paper executor on 'sim' has no "
        "prices" in str(err.value)
    )
    assert "allowed: one of market.exchanges (env TRADING_EXCHANGES) ['binance']" in str(err.value)
    testnet = load_env(tmp_path, **env, TRADING_EXECUTOR_MODE="testnet")  # its own prices
    assert testnet.executor.exchange == "sim"
