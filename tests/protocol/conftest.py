"""The ``scripted`` strategy of the scenario tables, registered for the protocol tests only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.protocol.scenarios import ScriptedStrategy


@pytest.fixture
def scripted() -> Iterator[None]:
    from trading_core.strategies import STRATEGIES

    STRATEGIES.register(ScriptedStrategy, "tests/protocol/scenarios.py")
    try:
        yield
    finally:
        STRATEGIES.unregister(ScriptedStrategy.name)
