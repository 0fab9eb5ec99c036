"""The stand-ins run the releases the default pins name (tests/unit/test_image_pins.py): PostgreSQL
15, Redis 7, nginx 1.22 and Python 3.11, as the running stack's own binaries report them."""

from __future__ import annotations

import pytest

from tests.engine.probes import run_in
from tests.engine.stack import EngineStack

pytestmark = pytest.mark.engine


@pytest.mark.parametrize(
    ("container", "command", "expected"),
    [
        ("postgres", ["postgres", "--version"], "(PostgreSQL) 15."),
        ("redis", ["redis-server", "--version"], "v=7."),
        ("gateway", ["nginx", "-v"], "nginx/1.22."),
        ("users-1", ["python", "--version"], "Python 3.11."),
    ],
)
def test_each_container_runs_the_pinned_release(
    engine_stack: EngineStack, container: str, command: list[str], expected: str
) -> None:
    exit_code, output = run_in(engine_stack.container(container), *command)

    assert exit_code == 0, output
    assert expected in output
