"""The integration suite (tests/e2e), unchanged, against the stack realized on the Docker engine."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.engine.stack import REPOSITORY, EngineStack

pytestmark = pytest.mark.engine
SUITE_TIMEOUT_SECONDS = 600


def test_integration_suite_passes_through_the_engine_gateway(engine_stack: EngineStack) -> None:
    environment = {key: value for key, value in os.environ.items() if key != "MICROSTACK_STACK"}
    environment["MICROSTACK_OUTPUTS"] = str(engine_stack.files.outputs)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/e2e", "-q", "-p", "no:cacheprovider"],
        cwd=REPOSITORY,
        env=environment,
        capture_output=True,
        text=True,
        timeout=SUITE_TIMEOUT_SECONDS,
        check=False,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, f"tests/e2e failed against the engine stack:\n{report}"
    # The suite must have run against this stack, not skipped its way to green.
    assert " passed" in report and " skipped" not in report, report
