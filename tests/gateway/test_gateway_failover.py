"""A gateway in front of two replicas of a service: it balances, a dead replica costs no GET, a
replica told to stop drains first, and a POST is never sent to a second replica once sent.

Real nginx (the template the containers use) over real gunicorn replicas of the session's local
stack; each test leaves both replicas running.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from launchers.database import DEFAULT_DATABASE
from launchers.gateway import Gateway
from launchers.gunicorn import GunicornServer
from launchers.polling import poll_until
from launchers.stack import LocalStack
from launchers.tls import self_signed_certificate
from tests.support.https import gateway_session, write_ca_file

# Below the gateway's per-client limit (50 r/s), as a steady client would be.
PACE_SECONDS = 1 / 25


@dataclass
class Replicated:
    gateway: Gateway
    ca_file: Path
    replicas: dict[str, tuple[GunicornServer, GunicornServer]]

    def upstream_addresses(self, since: int) -> list[str]:
        """`upstream_addr` of every access-log line after the first `since` lines."""
        lines = self.gateway.access_log.read_text().splitlines()[since:]
        return [json.loads(line)["upstream_addr"] for line in lines]

    def log_length(self) -> int:
        return len(self.gateway.access_log.read_text().splitlines())


@pytest.fixture(scope="module")
def replicated(
    local_stack: LocalStack, scratch_directory: Callable[[str], Path]
) -> Iterator[Replicated]:
    replicas = {
        name: (local_stack.services[name], local_stack.start_replica(name))
        for name in ("products", "orders")
    }
    upstreams = {name: [server.address] for name, server in local_stack.services.items()}
    upstreams |= {
        name: [first.address, second.address] for name, (first, second) in replicas.items()
    }
    gateway = Gateway(scratch_directory("failover-gateway"), upstreams, self_signed_certificate())
    gateway.start()
    yield Replicated(
        gateway, write_ca_file(gateway.certificate.certificate_pem, gateway.base_dir), replicas
    )
    gateway.stop()
    for _, second in replicas.values():
        second.stop()


@pytest.fixture
def https(replicated: Replicated) -> Iterator[requests.Session]:
    with gateway_session(replicated.ca_file) as session:
        yield session


def paced_gets(session: requests.Session, url: str, count: int) -> Counter[int]:
    statuses: Counter[int] = Counter()
    for _ in range(count):
        statuses[session.get(url, timeout=15).status_code] += 1
        time.sleep(PACE_SECONDS)
    return statuses


def replica_running(server: GunicornServer) -> Callable[[], None]:
    """Restart `server` on its port if a test stopped it (for the next test)."""

    def restore() -> None:
        if server.process is None or not server.process.running():
            server.start()

    return restore


def wait_until_served(
    replicated: Replicated, https: requests.Session, server: GunicornServer
) -> None:
    """Until `server`, back after a failure, gets traffic again: nginx holds a failed peer out for
    fail_timeout (5 s), and the next test must find both replicas in the rotation."""
    url = f"{replicated.gateway.url}/api/v1/products/2"

    def served() -> bool:
        before = replicated.log_length()
        paced_gets(https, url, 4)
        return server.address in replicated.upstream_addresses(before)

    poll_until(served, timeout=20, message=f"{server.address} got no traffic again")


def test_gets_are_balanced_over_the_replicas(
    replicated: Replicated, https: requests.Session
) -> None:
    first, second = replicated.replicas["products"]
    before = replicated.log_length()

    statuses = paced_gets(https, f"{replicated.gateway.url}/api/v1/products/1", 20)

    assert statuses == {200: 20}
    assert set(replicated.upstream_addresses(before)) == {first.address, second.address}


def test_a_get_that_a_frozen_replica_never_answers_is_answered_by_the_other(
    replicated: Replicated, https: requests.Session
) -> None:
    """A replica that accepts the request and never answers (a frozen process, or a task on a node
    that dropped off the network): the GET waits out the 10 s read timeout there, then the other
    replica answers it. The retry budget must outlast one read timeout for that."""
    frozen, other = replicated.replicas["products"]
    assert frozen.process is not None
    before = replicated.log_length()
    os.killpg(frozen.process.pid, signal.SIGSTOP)
    try:
        # Round robin alternates within an nginx worker; four GETs meet the frozen peer in at
        # least one worker of two.
        statuses = Counter(
            https.get(f"{replicated.gateway.url}/api/v1/products/1", timeout=40).status_code
            for _ in range(4)
        )
    finally:
        os.killpg(frozen.process.pid, signal.SIGCONT)

    assert statuses == {200: 4}
    assert f"{frozen.address}, {other.address}" in replicated.upstream_addresses(before)
    wait_until_served(replicated, https, frozen)


def test_a_killed_replica_costs_no_get(replicated: Replicated, https: requests.Session) -> None:
    _, second = replicated.replicas["products"]
    restore = replica_running(second)
    try:
        assert second.process is not None
        os.killpg(second.process.pid, signal.SIGKILL)
        second.process.popen.wait(timeout=10)

        statuses = paced_gets(https, f"{replicated.gateway.url}/api/v1/products?limit=5", 40)

        assert statuses == {200: 40}
    finally:
        restore()
    wait_until_served(replicated, https, second)


def test_a_replica_told_to_stop_drains_and_costs_no_get(
    replicated: Replicated, https: requests.Session
) -> None:
    _, second = replicated.replicas["products"]
    restore = replica_running(second)
    statuses: Counter[int] = Counter()
    load = threading.Thread(
        target=lambda: statuses.update(
            paced_gets(https, f"{replicated.gateway.url}/api/v1/products/3", 100)
        )
    )
    try:
        load.start()
        time.sleep(0.5)
        assert second.process is not None
        second.process.popen.send_signal(signal.SIGTERM)
        health = poll_until(
            lambda: _health(second),
            lambda answer: answer == (503, "draining"),
            timeout=2,
            message=lambda answer: f"/health answered {answer} while draining",
        )
        assert health == (503, "draining")
        # Still serving while draining: the requests in flight and those arriving finish.
        assert second.process.running()
        second.process.popen.wait(timeout=30)
        load.join(timeout=30)
    finally:
        load.join(timeout=30)
        restore()

    assert statuses == {200: 100}


def test_a_post_is_never_sent_to_a_second_replica(
    replicated: Replicated, https: requests.Session, local_stack: LocalStack
) -> None:
    """A replica that accepts the connection and never answers (frozen): the POST sent to it times
    out (504) and is not retried on the other replica; once thawed, the frozen replica handles it.
    Every POST creates exactly one order."""
    hung, _ = replicated.replicas["orders"]
    assert hung.process is not None
    before = _order_count(local_stack)
    body = {"user_id": 1, "product_id": 1, "quantity": 1}
    os.killpg(hung.process.pid, signal.SIGSTOP)
    try:
        # nginx's round robin starts each worker at the first peer: the frozen one.
        statuses = [
            https.post(f"{replicated.gateway.url}/api/v1/orders", json=body, timeout=30).status_code
            for _ in range(2)
        ]
    finally:
        os.killpg(hung.process.pid, signal.SIGCONT)

    assert 504 in statuses
    assert set(statuses) <= {201, 504}
    poll_until(
        lambda: _order_count(local_stack),
        lambda count: count == before + len(statuses),
        timeout=15,
        message=lambda count: f"{count - before} orders for {len(statuses)} POSTs",
    )
    time.sleep(1)  # nothing more arrives: no POST was replayed
    assert _order_count(local_stack) == before + len(statuses)


def _health(server: GunicornServer) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"{server.url}/health", timeout=1) as response:
            return response.status, json.loads(response.read())["status"]
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())["status"]
    except OSError as error:
        return 0, str(error)


def _order_count(stack: LocalStack) -> int:
    assert stack.postgres is not None
    connection = stack.postgres.connect(DEFAULT_DATABASE)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM orders")
            row = cursor.fetchone()
            assert row is not None
            return int(row[0])
    finally:
        connection.close()
