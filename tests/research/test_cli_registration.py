"""``trading CMD`` registers CMD's group only; ``trading --help`` still lists every command."""

from __future__ import annotations

import argparse
import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from trading_pipelines.cli import COMMANDS, _parser, main

ROOT = Path(__file__).resolve().parents[2]
GROUPS = list(dict.fromkeys(COMMANDS.values()))


def _registered(group: str) -> list[str]:
    scratch = argparse.ArgumentParser()
    sub = scratch.add_subparsers(dest="command")
    importlib.import_module(f"trading_pipelines.cli.{group}").register(sub)
    return list(sub.choices)


def test_the_table_names_exactly_what_each_group_registers() -> None:
    seen: list[str] = []
    for group in GROUPS:
        commands = _registered(group)
        assert commands, group
        for command in commands:
            assert COMMANDS.get(command) == group, f"{command} is registered by {group}"
        seen.extend(commands)
    assert seen == list(COMMANDS), "COMMANDS' order is --help's order"


def test_help_lists_every_command_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    listing = capsys.readouterr().out
    choices = listing.split("{", 1)[1].split("}", 1)[0].split(",")
    assert choices == list(COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_command_gets_its_own_group_only(command: str) -> None:
    parser = _parser(command)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert list(sub.choices) == _registered(COMMANDS[command])


@pytest.mark.parametrize(
    ("argv", "code"),
    [([], 2), (["bogus"], 2), (["sweep"], 2), (["Sweep"], 2), (["--version"], 2), ([""], 2)],
)
def test_unknown_or_incomplete_commands_keep_their_exit_status(
    argv: list[str], code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == code
    err = capsys.readouterr().err
    assert err.startswith("usage: trading"), err
    if argv and argv[0] != "sweep":  # the top-level parser: its error lists every command
        assert "sweep" in err and "monte-carlo" in err


def test_trading_sweep_imports_no_other_group(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from trading_pipelines.cli import main\n"
        "try:\n"
        "    main(['sweep', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('trading_pipelines.')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    loaded = ast.literal_eval(done.stdout.strip().splitlines()[-1])
    groups = {m.rsplit(".", 1)[1] for m in loaded if m.startswith("trading_pipelines.cli.")}
    assert groups <= {"sweep", "research"}, groups
    assert not [m for m in loaded if m.startswith("trading_pipelines.cockpit")], loaded
