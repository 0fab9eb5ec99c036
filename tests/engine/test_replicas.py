"""Replicas on the engine: a replica that dies costs no GET and comes back, and orders placed while
one dies are never duplicated. The gateway fails over (nginx/gateway.conf.j2) and Docker's restart
policy brings the replica back; nothing here restarts anything by hand."""

from __future__ import annotations

import os
import secrets
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from launchers.polling import poll_until
from tests.engine.probes import query_row, run_in
from tests.engine.stack import EngineStack
from tests.support.https import gateway_session
from tests.support.load import GetLoad

pytestmark = pytest.mark.engine
RESTART_SECONDS = 90
SERVICES = ("users", "products", "orders")
LOG_LINES = 80


def kill_from_the_host(container: Any) -> int:
    """SIGKILL the container's main process from the host: a crash, so the restart policy
    applies (an operator's `docker stop` or `docker kill` would keep it down). Its restart count."""
    container.reload()
    restarts = int(container.attrs["RestartCount"])
    os.kill(container.attrs["State"]["Pid"], signal.SIGKILL)
    return restarts


def wait_until_back(container: Any, restarts_before: int) -> None:
    def state() -> dict[str, Any]:
        container.reload()
        return {
            "restarts": container.attrs["RestartCount"],
            "health": (container.attrs["State"].get("Health") or {}).get("Status"),
        }

    poll_until(
        state,
        lambda now: now["restarts"] > restarts_before and now["health"] == "healthy",
        timeout=RESTART_SECONDS,
        interval=0.5,
        message=lambda now: f"{container.name} did not come back healthy: {now}",
    )


def test_a_killed_replica_of_each_service_costs_no_get_and_serves_again(
    engine_stack: EngineStack, report: Callable[[str], None]
) -> None:
    outputs = engine_stack.outputs
    gateway = engine_stack.container("gateway")
    started = int(time.time()) - 1
    with GetLoad(outputs) as load:
        for service in SERVICES:
            replica = engine_stack.container(f"{service}-1")
            restarts = kill_from_the_host(replica)
            wait_until_back(replica, restarts)
    result = load.result
    assert result is not None
    report(f"kill -9 of one replica of each service in turn: {result.describe()}")

    assert result.sent > 0
    assert result.failed == 0, (
        f"{result.describe()}; by URL {dict(result.failed_urls)}; the gateway said:\n"
        + gateway_lines_about_failures(gateway, started)
    )
    for service in SERVICES:
        # Back on the network under its own name, and answering the gateway's requests again.
        exit_code, output = run_in(
            gateway, "curl", "-sf", "--max-time", "5", f"http://{service}-1:8000/health"
        )
        assert exit_code == 0 and '"status":"ok"' in output.replace(" ", ""), output


def gateway_lines_about_failures(gateway: Any, since: int) -> str:
    """The gateway's log lines that explain failed requests: its errors and warnings (a peer it
    could not reach, "no live upstreams"), its reloads, and the access lines of 5xx answers (which
    peers each one tried, with what status)."""
    logs = gateway.logs(stdout=True, stderr=True, since=since).decode(errors="replace")
    wanted = ("[error]", "[warn]", "[alert]", "reloaded", '"status":5')
    lines = [line for line in logs.splitlines() if any(mark in line for mark in wanted)]
    return "\n".join(lines[-LOG_LINES:])


def test_orders_placed_while_an_orders_replica_dies_are_never_duplicated(
    engine_stack: EngineStack, gateway: requests.Session, ca_file: Path
) -> None:
    outputs = engine_stack.outputs
    stock = 10
    product = gateway.post(
        outputs["service_urls"]["products"],
        json={
            "name": f"contended-{secrets.token_hex(3)}",
            "category": "engine",
            "price": 5,
            "stock": stock,
        },
        timeout=10,
    )
    assert product.status_code == 201, product.text
    product_id = product.json()["id"]
    answers: Counter[str] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(21)

    def place_order() -> None:
        with gateway_session(ca_file) as session:
            start.wait(timeout=30)
            try:
                response = session.post(
                    outputs["service_urls"]["orders"],
                    json={"user_id": 1, "product_id": product_id, "quantity": 1},
                    timeout=30,
                )
                kind = str(response.status_code)
                # A 5xx must be a definite answer the client may retry: the one JSON error shape.
                if response.status_code >= 500 and not _is_json_error(response):
                    kind += " (not the JSON error shape)"
            except requests.RequestException as error:
                kind = type(error).__name__
            with lock:
                answers[kind] += 1

    orders = engine_stack.container("orders-1")
    clients = [threading.Thread(target=place_order) for _ in range(20)]
    for client in clients:
        client.start()
    start.wait(timeout=30)
    restarts = kill_from_the_host(orders)
    for client in clients:
        client.join(timeout=60)
    wait_until_back(orders, restarts)

    assert sum(answers.values()) == 20, answers
    assert set(answers) <= {"201", "409", "502", "503", "504"}, answers
    placed, left = database_orders_and_stock(engine_stack, product_id)
    # Never more orders than requests that were not refused, and never one without its stock.
    assert answers["201"] <= placed <= 20 - answers["409"], (answers, placed)
    assert placed + left == stock and left >= 0, (placed, left)


def _is_json_error(response: requests.Response) -> bool:
    try:
        return "error" in response.json()
    except ValueError:
        return False


def database_orders_and_stock(stack: EngineStack, product_id: int) -> tuple[int, int]:
    query = (
        f"SELECT (SELECT count(*) FROM orders WHERE product_id = {int(product_id)}), "
        f"(SELECT stock FROM products WHERE id = {int(product_id)})"
    )
    placed, left = query_row(stack.container("postgres"), query)
    return int(placed), int(left)
