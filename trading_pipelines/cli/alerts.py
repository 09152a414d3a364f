"""``trading alerts test [--level L]``: send a test alert to every configured channel and
print what each answered, one line per channel::

    file /path/alerts.jsonl: ok (appended)
    telegram api.telegram.org (2 chat(s)): ok (101: ok; -1002: ok)
    apprise mailtos://smtp.example.com/…: FAILED (apprise reported a failure)
    webhook https://hooks.slack.com/…: skipped (below its minimum level WARNING)

The test alert goes through the alert module (``executor.alerts``) without its
de-duplication and rate limit. Exit status 0 when every channel that was tried took it, 1
when one refused, 2 for a usage or configuration error.
"""

from __future__ import annotations

import argparse

from trading_pipelines.cli import CliError

LEVELS = ("INFO", "WARNING", "CRITICAL", "EMERGENCY")


def register(sub: argparse._SubParsersAction) -> None:
    alerts = sub.add_parser("alerts", help="alert channels (test them)")
    commands = alerts.add_subparsers(dest="alerts_command", required=True)
    test = commands.add_parser("test", help="send a test alert to every configured channel")
    test.add_argument(
        "--level",
        default="INFO",
        type=str.upper,
        choices=LEVELS,
        help="the test alert's level (default INFO; channels with a higher minimum skip it)",
    )
    test.set_defaults(run=run_test)


def run_test(args: argparse.Namespace) -> int:
    from executor.alert_channels import Alert, wants
    from executor.alerts import ALERTS_FILE, Alerter, remote_channels
    from trading_core.config import ConfigError, get_config, get_paths

    try:
        settings = get_config().alerts
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    path = get_paths().home / ALERTS_FILE
    alerter = Alerter(path, settings=settings, channels=[])
    level = args.level.lower()
    title = "test alert"
    message = f"trading alerts test --level {args.level}: if you read this, the channel works"
    appended = alerter.send(level, title, message)
    print(f"file {path}: {'ok (appended)' if appended else 'FAILED (see the log)'}")
    channels = remote_channels(settings)
    if not channels:
        print(
            "no remote channel configured (set TRADING_ALERT_WEBHOOK, TRADING_TELEGRAM_TOKEN "
            "with TRADING_TELEGRAM_CHAT_IDS, or TRADING_ALERT_APPRISE_URLS)"
        )
    alert = Alert(level, title, message)
    failed = not appended
    for channel in channels:
        if not wants(channel, alert):
            print(f"{channel.name}: skipped (below its minimum level {channel.min_level})")
            continue
        (answer,) = alerter.deliver(alert, [channel])
        failed = failed or not answer.ok
        print(f"{answer.channel}: {'ok' if answer.ok else 'FAILED'} ({answer.detail})")
    return 1 if failed else 0
