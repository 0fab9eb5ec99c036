"""The gateway suite: real nginx over HTTPS in front of the real services, PostgreSQL and Redis.

One local stack (the devstack's own LocalStack) serves the whole session; tests that stop or hang a
service restore it before they return.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
import requests

from launchers.gateway import Gateway
from launchers.stack import LocalStack
from tests.support.binaries import binaries_required
from tests.support.https import gateway_session, write_ca_file


@pytest.fixture(scope="session")
def local_stack(scratch_directory: Callable[[str], Path]) -> Iterator[LocalStack]:
    stack = LocalStack(scratch_directory("gateway-stack"))
    with binaries_required():
        stack.up()
    yield stack
    stack.down()


@pytest.fixture(scope="session")
def gateway(local_stack: LocalStack) -> Gateway:
    assert local_stack.gateway is not None
    return local_stack.gateway


@pytest.fixture(scope="session")
def ca_file(gateway: Gateway, scratch_directory: Callable[[str], Path]) -> Path:
    return write_ca_file(gateway.certificate.certificate_pem, scratch_directory("ca"))


@pytest.fixture
def https(ca_file: Path) -> Iterator[requests.Session]:
    with gateway_session(ca_file) as session:
        yield session


@pytest.fixture
def stop_part(local_stack: LocalStack) -> Iterator[Callable[[str], None]]:
    """Factory: stop one part of the stack ("orders", "redis", ...); restarted after the test."""
    stopped: list[str] = []

    def stop(name: str) -> None:
        server = local_stack.services.get(name) or getattr(local_stack, name)
        server.stop()
        stopped.append(name)

    yield stop
    for name in stopped:
        local_stack.restart(name)


@pytest.fixture
def hung_service(local_stack: LocalStack) -> Callable[[str], AbstractContextManager[None]]:
    """Context manager factory: freeze a service's whole process group (SIGSTOP) while inside.

    A frozen process still has its listening socket, so connections are accepted by the kernel and
    then never answered: the hang the gateway's timeouts must bound.
    """

    @contextmanager
    def hang(name: str) -> Iterator[None]:
        process = local_stack.services[name].process
        assert process is not None
        os.killpg(process.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.killpg(process.pid, signal.SIGCONT)

    return hang


@pytest.fixture
def rate_limit_recovers(gateway: Gateway) -> Iterator[None]:
    """After a test exhausts the rate limit, wait until the bucket is full again (bounded)."""
    yield
    limits = gateway.variables()
    time.sleep(limits.rate_limit_burst / limits.rate_limit_per_second + 0.5)
