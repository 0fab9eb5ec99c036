"""The engine suite's fixtures: the declared stack, realized once per session on the Docker engine.

In CI (CI=true) a missing Docker engine fails the run; elsewhere the suite is skipped with the
reason. The base-image stand-ins are built (or found cached) before the stack comes up.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import requests

from tests.engine.build_base_images import build_all
from tests.engine.engine import docker_available
from tests.engine.stack import EngineStack, up
from tests.engine.worker_node import WorkerNetwork, WorkerNode, running_worker
from tests.support.binaries import running_in_ci
from tests.support.https import gateway_session, write_ca_file

TEARDOWN_MARKER = "engine_teardown"
SWARM_STACK = "ci-swarm"
TIMINGS = pytest.StashKey[dict[str, float]]()
REPORTS = pytest.StashKey[list[str]]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{TEARDOWN_MARKER}: removes the session's engine stack, so it runs last"
    )
    config.stash[TIMINGS] = {}
    config.stash[REPORTS] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests that tear the session's stack down must come after every test that uses it.
    last = [item for item in items if item.get_closest_marker(TEARDOWN_MARKER)]
    items[:] = [item for item in items if item not in last] + last


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    timings = config.stash.get(TIMINGS, {})
    if timings:
        measured = ", ".join(f"{step} {seconds:.0f}s" for step, seconds in timings.items())
        terminalreporter.write_line(f"engine harness timings: {measured}")
    for line in config.stash.get(REPORTS, []):
        terminalreporter.write_line(f"engine report: {line}")


@pytest.fixture(scope="session")
def timed(pytestconfig: pytest.Config) -> Callable[[str, float], None]:
    def record(step: str, started: float) -> None:
        pytestconfig.stash[TIMINGS][step] = time.monotonic() - started

    return record


@pytest.fixture(scope="session")
def report(pytestconfig: pytest.Config) -> Callable[[str], None]:
    """A line for the end of the run (measurements a test reports without asserting them)."""

    def add(line: str) -> None:
        pytestconfig.stash[REPORTS].append(line)
        print(line)

    return add


@pytest.fixture(scope="session")
def docker_engine() -> docker.DockerClient:
    reason = docker_available()
    if reason is not None:
        if running_in_ci():
            pytest.fail(f"CI must not skip: {reason} (.ci/run starts dockerd)", pytrace=False)
        pytest.skip(reason)
    return docker.from_env(timeout=600)


@pytest.fixture(scope="session")
def base_images(docker_engine: docker.DockerClient, timed: Callable[[str, float], None]) -> None:
    started = time.monotonic()
    build_all(docker_engine)
    timed("base images", started)


@pytest.fixture(scope="session")
def engine_stack(base_images: None, timed: Callable[[str, float], None]) -> Iterator[EngineStack]:
    started = time.monotonic()
    stack = up()
    timed("up", started)
    yield stack
    started = time.monotonic()
    stack.down()  # idempotent: the teardown test may have run it already
    timed("down", started)


@pytest.fixture(scope="session")
def swarm_worker(docker_engine: docker.DockerClient) -> Iterator[WorkerNode]:
    """A second engine in its own network namespace, ready to join the Swarm as a worker. It
    exists before the Swarm does: the manager advertises its end of the node's link, the only
    address of this machine that the node reaches."""
    # Its own link, apart from the one tests/engine/test_cluster_parts.py uses.
    with running_worker(WorkerNetwork.numbered(1)) as node:
        yield node


@pytest.fixture(scope="session")
def swarm_stack(
    base_images: None, swarm_worker: WorkerNode, timed: Callable[[str, float], None]
) -> Iterator[EngineStack]:
    """The `ci-swarm` stack (Pulumi.ci-swarm.yaml): the same program as Swarm services, on a Swarm
    the harness initialises and leaves again (tests/engine/swarm.py)."""
    started = time.monotonic()
    stack = up(SWARM_STACK, advertise_address=swarm_worker.host_address)
    timed("swarm up", started)
    yield stack
    started = time.monotonic()
    stack.down()  # idempotent: the Swarm teardown test may have run it already
    timed("swarm down", started)


@pytest.fixture(scope="session")
def outputs(engine_stack: EngineStack) -> dict[str, Any]:
    return engine_stack.outputs


@pytest.fixture(scope="session")
def ca_file(outputs: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_ca_file(outputs["tls_ca_certificate"], tmp_path_factory.mktemp("engine-ca"))


@pytest.fixture
def gateway(ca_file: Path) -> Iterator[requests.Session]:
    with gateway_session(ca_file, retry_rate_limited=True) as session:
        yield session
