"""The integration suite (tests/e2e), unchanged, against the stack realized on the Docker engine."""

from __future__ import annotations

import pytest

from tests.engine.probes import run_integration_suite
from tests.engine.stack import EngineStack

pytestmark = pytest.mark.engine


def test_integration_suite_passes_through_the_engine_gateway(engine_stack: EngineStack) -> None:
    passed, report = run_integration_suite(engine_stack.files.outputs)
    assert passed, f"tests/e2e failed against the engine stack:\n{report}"
