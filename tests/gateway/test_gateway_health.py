"""GET /api/health aggregates the three services' /health, within 2 s even when one hangs."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager

import requests

from launchers.gateway import Gateway
from launchers.polling import poll_until

HEALTH_DEADLINE_SECONDS = 2.0


def _health(https: requests.Session, gateway: Gateway) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = https.get(f"{gateway.url}/api/health", timeout=10)
    return response, time.monotonic() - started


def test_health_is_200_and_ok_when_every_service_is_healthy(
    https: requests.Session, gateway: Gateway
) -> None:
    response, _ = _health(https, gateway)

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["failing"] == []
    assert set(body["services"]) == {"users", "products", "orders"}
    assert {service["checks"]["database"] for service in body["services"].values()} == {"ok"}


def test_a_stopped_service_makes_health_503_naming_it(
    https: requests.Session, gateway: Gateway, stop_part: Callable[[str], None]
) -> None:
    stop_part("orders")

    response, elapsed = _health(https, gateway)

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["failing"] == ["orders"]
    assert body["services"]["orders"]["status"] == "unavailable"
    assert body["services"]["users"]["status"] == "ok"
    assert elapsed < HEALTH_DEADLINE_SECONDS


def test_a_hung_service_makes_health_503_within_two_seconds(
    https: requests.Session,
    gateway: Gateway,
    hung_service: Callable[[str], AbstractContextManager[None]],
) -> None:
    with hung_service("products"):
        response, elapsed = _health(https, gateway)

    assert response.status_code == 503
    assert response.json()["failing"] == ["products"]
    assert elapsed < HEALTH_DEADLINE_SECONDS


def test_health_recovers_once_the_hung_service_resumes(
    https: requests.Session,
    gateway: Gateway,
    hung_service: Callable[[str], AbstractContextManager[None]],
) -> None:
    with hung_service("users"):
        assert _health(https, gateway)[0].status_code == 503

    poll_until(
        lambda: _health(https, gateway)[0].status_code,
        lambda status: status == 200,
        timeout=10,
        message=lambda status: f"/api/health still {status} 10 s after users resumed",
    )
    assert _health(https, gateway)[0].status_code == 200


def test_redis_down_is_degraded_but_still_200(
    https: requests.Session, gateway: Gateway, stop_part: Callable[[str], None]
) -> None:
    stop_part("redis")

    response, elapsed = _health(https, gateway)

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert {service["checks"]["cache"] for service in body["services"].values()} == {"unavailable"}
    assert elapsed < HEALTH_DEADLINE_SECONDS


def test_health_rejects_other_methods_with_json_405(
    https: requests.Session, gateway: Gateway
) -> None:
    response = https.post(f"{gateway.url}/api/health")

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
