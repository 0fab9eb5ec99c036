"""A service container that goes away mid-run rejoins its networks and the gateway recovers."""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest
import requests

from launchers.polling import poll_until
from tests.engine.probes import gateway_health, wait_for_gateway_health
from tests.engine.stack import EngineStack

pytestmark = pytest.mark.engine
RESTART_SECONDS = 60


def test_a_stopped_service_is_reported_and_recovers_after_a_restart(
    engine_stack: EngineStack, outputs: dict[str, Any], gateway: requests.Session
) -> None:
    wait_for_gateway_health(gateway, outputs["health_url"])
    # Every replica: one alone stopped is not an outage (the gateway fails over).
    replicas = [engine_stack.container(name) for name in ("users-1", "users-2")]
    for replica in replicas:
        replica.stop(timeout=10)
    try:
        status, body = gateway_health(gateway, outputs["health_url"])
        assert status == 503 and "users" in body["failing"], body
        products = gateway.get(outputs["service_urls"]["products"], timeout=10)
        assert products.status_code == 200, "one service down must not take the others"
    finally:
        for replica in replicas:
            replica.start()
    wait_for_gateway_health(gateway, outputs["health_url"])
    listed = gateway.get(outputs["service_urls"]["users"], timeout=10)
    assert listed.status_code == 200, listed.text


def test_a_crashed_service_is_restarted_by_its_policy_and_rejoins(
    engine_stack: EngineStack, outputs: dict[str, Any], gateway: requests.Session
) -> None:
    orders = engine_stack.container("orders-1")
    restarts_before = orders.attrs["RestartCount"]
    # SIGKILL from the host: a crash, not an operator's stop, so `unless-stopped` applies.
    os.kill(orders.attrs["State"]["Pid"], signal.SIGKILL)

    def restarted() -> bool:
        orders.reload()
        return orders.attrs["RestartCount"] > restarts_before and orders.status == "running"

    poll_until(
        restarted,
        timeout=RESTART_SECONDS,
        interval=0.5,
        message=lambda _: f"orders was not restarted: {orders.attrs['State']}",
    )
    wait_for_gateway_health(gateway, outputs["health_url"])
    listed = gateway.get(outputs["service_urls"]["orders"], timeout=10)
    assert listed.status_code == 200, listed.text
