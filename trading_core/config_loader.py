"""``load_config``: the configuration built from defaults, a YAML file and the environment.

A bad value fails here, with an error naming the field, its variable and the allowed values:
the models' own checks, then what they cannot see (replay directories and feed files that do
not exist, markets asked for that nothing provides). ``get_config`` is the process-wide one.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import ValidationError

from trading_core.config_base import ConfigError
from trading_core.config_env import ENV_OVERRIDES, empty_variable_error, with_variable
from trading_core.config_paths import trading_home
from trading_core.config_schema import TradingConfig


def _set_path(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = tree
    for part in parents:
        if node.get(part) is None:
            node[part] = {}
        node = node[part]
        if not isinstance(node, dict):
            raise ConfigError(f"{part}: must be a mapping of settings (got {node!r})")
    node[leaf] = value


def _format_validation_error(err: ValidationError, origin: str) -> str:
    lines = [f"invalid trading configuration ({origin}):"]
    for problem in err.errors():
        field = ".".join(str(p) for p in problem["loc"])
        allowed = problem.get("ctx", {}).get("expected")
        msg = problem["msg"].removeprefix("Value error, ")
        if allowed and str(allowed) not in msg:
            msg = f"{msg}; allowed: {allowed}"
        lines.append(f"  {with_variable(field)}: {msg} (got {problem.get('input')!r})")
    return "\n".join(lines)


def _path_problems(config: TradingConfig) -> list[str]:
    """Replay directories and feed files that do not exist (checked at load time only: the
    models themselves do no I/O)."""
    problems = []
    folders = {
        "market.replay_dir": config.market.replay_dir,
        "social.replay_dir": config.social.replay_dir,
        "onchain.replay_dir": config.onchain.replay_dir,
    }
    for field, folder in folders.items():
        if folder is not None and not folder.is_dir():
            what = "is not a directory" if folder.exists() else "does not exist"
            seen_from = "" if folder.is_absolute() else f" (relative to {Path.cwd()})"
            problems.append(
                f"  {with_variable(field)}: {folder}{seen_from} {what}; "
                "allowed: an existing directory"
            )
    for i, feed in enumerate(config.news.feeds):
        url = urlsplit(feed)
        if url.scheme in ("http", "https") and url.hostname:
            continue
        if not Path(feed).is_file():
            problems.append(
                f"  {with_variable(f'news.feeds.{i}')}: {feed!r} is neither an http(s) URL nor an "
                "existing file; allowed: feed URLs (http(s)://host/...) or paths of feed files"
            )
    return problems


def _market_problems(config: TradingConfig) -> list[str]:
    """Markets asked for that nothing provides: a strategy timeframe that is not ingested, a
    paper executor on an exchange without prices, and with ``market.source: replay`` the
    series without a file in the replay directory."""
    market, executor = config.market, config.executor
    problems = []
    if config.strategy.timeframe not in market.timeframes:
        problems.append(
            f"  {with_variable('strategy.timeframe')}: {config.strategy.timeframe!r} is not "
            f"ingested; allowed: one of {with_variable('market.timeframes')} {market.timeframes}"
        )
    if executor.mode == "paper" and executor.exchange not in market.exchanges:
        problems.append(
            f"  {with_variable('executor.exchange')}: a paper executor on {executor.exchange!r} "
            f"has no prices (and the strategy's intents are for the ingested exchanges); "
            f"allowed: one of {with_variable('market.exchanges')} {market.exchanges}"
        )
    if market.source == "replay" and market.replay_dir is not None:
        from trading_core.market.replay_coverage import coverage_problems  # reads the folder

        problems += [
            f"  {with_variable(field)}: {problem}"
            for field, problem in coverage_problems(
                market.replay_dir, market.exchanges, market.symbols, market.timeframes
            )
        ]
    return problems


def load_config(
    path: Path | str | None = None, environ: dict[str, str] | None = None
) -> TradingConfig:
    """Build the configuration from defaults, an optional YAML file and the environment."""
    env = os.environ if environ is None else environ
    tree: dict[str, Any] = {}
    origin = "defaults"
    file = Path(path) if path else _default_config_file(env)
    if file is not None:
        if not file.is_file():
            raise ConfigError(f"TRADING_CONFIG points to {file}, which is not a file")
        try:
            loaded = yaml.safe_load(file.read_text()) or {}
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            at = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
            problem = exc.problem or exc.context or "syntax error"
            raise ConfigError(f"{file}{at}: invalid YAML: {problem}") from None
        except (yaml.YAMLError, OSError, UnicodeDecodeError) as exc:
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConfigError(f"{file}: cannot read the configuration: {detail}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{file}: the top level must be a mapping of sections")
        tree = loaded
        origin = str(file)
    for var, (field, parse) in ENV_OVERRIDES.items():
        raw = env.get(var)
        if raw is None:
            continue
        if not raw.strip():
            raise ConfigError(empty_variable_error(var, field))
        try:
            value = parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{var} ({field}): cannot parse {raw!r}: {exc}") from None
        _set_path(tree, field, value)
        origin += f" + {var}"
    try:
        config = TradingConfig.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, origin)) from None
    problems = _path_problems(config) or _market_problems(config)
    if problems:
        raise ConfigError("\n".join([f"invalid trading configuration ({origin}):", *problems]))
    return config


def _default_config_file(env: os._Environ[str] | dict[str, str]) -> Path | None:
    explicit = env.get("TRADING_CONFIG")
    if explicit:
        return Path(explicit)
    candidate = trading_home(env) / "trading.yaml"
    return candidate if candidate.is_file() else None


@cache
def get_config() -> TradingConfig:
    """The process-wide configuration (read once)."""
    return load_config()
