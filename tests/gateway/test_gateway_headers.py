"""Security headers on every response, and X-Request-ID carried from client to service and back."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import requests

from launchers.gateway import Gateway
from launchers.polling import poll_until
from launchers.stack import LocalStack

SECURITY_HEADERS = {
    "Strict-Transport-Security": "max-age=63072000",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}

# (method, path, JSON body, expected status): a success, the service's own errors, the gateway's.
RESPONSES = [
    ("GET", "/api/v1/users", None, 200),
    ("GET", "/api/health", None, 200),
    ("POST", "/api/v1/users", {"username": "x"}, 422),
    ("GET", "/api/v1/users/999999", None, 404),
    ("GET", "/not-routed", None, 404),
]


@pytest.mark.parametrize(("method", "path", "body", "status"), RESPONSES)
def test_security_headers_on_success_and_errors(
    https: requests.Session,
    gateway: Gateway,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    status: int,
) -> None:
    response = https.request(method, f"{gateway.url}{path}", json=body)

    assert response.status_code == status
    for name, value in SECURITY_HEADERS.items():
        # Exactly one copy: the gateway's, even where the service sets its own.
        assert response.headers[name] == value, name


def _service_log_lines(stack: LocalStack, service: str) -> list[dict[str, Any]]:
    lines = []
    for line in stack.services[service].log_path.read_text().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def _logged_request(stack: LocalStack, service: str, path: str, request_id: str) -> dict[str, Any]:
    """The service's log line for ``request_id`` on ``path``.

    The line comes after the response (the service queues it and writes it within 50 ms:
    servicekit/json_logging.py), and other tests log the same path: wait for this very id.
    """
    entries = poll_until(
        lambda: [
            entry
            for entry in _service_log_lines(stack, service)
            if entry.get("path") == path and entry.get("request_id") == request_id
        ],
        timeout=3,
        interval=0.05,
        message=f"{service} logged no request {request_id} to {path} within 3 s",
    )
    return entries[0]


def test_client_request_id_reaches_the_service_and_comes_back(
    https: requests.Session, gateway: Gateway, local_stack: LocalStack
) -> None:
    request_id = "client-chosen-id-0001"

    response = https.get(f"{gateway.url}/api/v1/products/2", headers={"X-Request-ID": request_id})

    assert response.headers["X-Request-ID"] == request_id
    logged = _logged_request(local_stack, "products", "/api/v1/products/2", request_id)
    assert logged["status"] == 200


def test_request_id_is_generated_when_absent_and_logged_by_the_service(
    https: requests.Session, gateway: Gateway, local_stack: LocalStack
) -> None:
    response = https.get(f"{gateway.url}/api/v1/orders/3")

    generated = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    logged = _logged_request(local_stack, "orders", "/api/v1/orders/3", generated)
    assert logged["status"] == 200


@pytest.mark.parametrize("unsafe", ["has spaces in it", "x" * 300, 'quote"and{brace}'])
def test_unsafe_client_request_id_is_replaced(
    https: requests.Session, gateway: Gateway, unsafe: str
) -> None:
    response = https.get(f"{gateway.url}/api/v1/users/1", headers={"X-Request-ID": unsafe})

    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


def test_response_carries_exactly_one_request_id(https: requests.Session, gateway: Gateway) -> None:
    response = https.get(f"{gateway.url}/api/v1/users/1", headers={"X-Request-ID": "only-one"})

    # urllib3 joins repeated headers with ", ".
    assert response.headers["X-Request-ID"] == "only-one"
