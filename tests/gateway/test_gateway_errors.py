"""The gateway's own errors are JSON in the one error shape: 413, 429, 502, 504."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
import requests

from launchers.gateway import Gateway
from tests.support.https import gateway_session


def _assert_gateway_error(response: requests.Response, status: int, code: str) -> None:
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert error["details"]["request_id"] == response.headers["X-Request-ID"]


def test_body_over_the_limit_is_a_json_413(https: requests.Session, gateway: Gateway) -> None:
    response = https.post(
        f"{gateway.url}/api/v1/users",
        data=b"x" * (2 * 1024 * 1024),
        headers={"Content-Type": "application/json"},
    )

    _assert_gateway_error(response, 413, "payload_too_large")


def test_a_stopped_service_is_a_json_502(
    https: requests.Session, gateway: Gateway, stop_part: Callable[[str], None]
) -> None:
    stop_part("orders")

    response = https.get(f"{gateway.url}/api/v1/orders")

    _assert_gateway_error(response, 502, "bad_gateway")


def test_a_hung_service_is_a_json_504_after_the_read_timeout(
    https: requests.Session,
    gateway: Gateway,
    hung_service: Callable[[str], AbstractContextManager[None]],
) -> None:
    with hung_service("users"):
        started = time.monotonic()
        response = https.get(f"{gateway.url}/api/v1/users/1", timeout=30)
        elapsed = time.monotonic() - started

    _assert_gateway_error(response, 504, "gateway_timeout")
    # proxy_read_timeout is 10 s: long enough for a slow query, bounded for a hung service.
    assert 9 <= elapsed < 15


def _burst(ca_file: Path, url: str, count: int) -> list[requests.Response]:
    def fetch(_: int) -> requests.Response:
        with gateway_session(ca_file) as session:
            return session.get(url, timeout=10)

    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(fetch, range(count)))


@pytest.mark.usefixtures("rate_limit_recovers")
def test_rate_limit_answers_json_429_beyond_the_burst(gateway: Gateway, ca_file: Path) -> None:
    # A bounded burst well above rate_limit_burst, on a proxied route: limit_req runs after the
    # rewrite phase, so the gateway's own `return`s (404, redirects) are not counted.
    limits = gateway.variables()
    count = limits.rate_limit_burst * 3
    started = time.monotonic()
    responses = _burst(ca_file, f"{gateway.url}/api/v1/users/1", count)
    elapsed = time.monotonic() - started

    limited = [response for response in responses if response.status_code == 429]
    allowed = [response for response in responses if response.status_code == 200]
    assert len(limited) + len(allowed) == count
    assert limited, f"no 429 among {count} requests in {elapsed:.2f}s"
    # Never more than the burst plus what the rate refilled while the burst ran.
    assert len(allowed) <= limits.rate_limit_burst + limits.rate_limit_per_second * (elapsed + 1)
    _assert_gateway_error(limited[0], 429, "rate_limited")
