"""Every error, from a service or from the gateway, has the one JSON shape."""

from __future__ import annotations

from typing import Any

import pytest
import requests

JSON = {"Content-Type": "application/json"}
TOO_LARGE = b"0" * (2 * 1024 * 1024)

# (method, path under the gateway, keyword arguments for requests, expected status)
BAD_REQUESTS: list[tuple[str, str, dict[str, Any], int]] = [
    ("POST", "/api/v1/users", {"data": "{not json", "headers": JSON}, 400),
    ("POST", "/api/v1/users", {"data": "x", "headers": {"Content-Type": "text/plain"}}, 415),
    ("POST", "/api/v1/users", {"json": {"username": "ok_name"}}, 422),
    ("POST", "/api/v1/users", {"json": {"username": 7, "email": "a@example.com"}}, 422),
    ("POST", "/api/v1/products", {"json": {"name": "x", "category": "c", "price": -1}}, 422),
    ("GET", "/api/v1/users/2000000000", {}, 404),
    ("GET", "/api/v1/products/not-a-number", {}, 422),
    ("GET", "/api/v1/orders?limit=1000", {}, 422),
    ("DELETE", "/api/v1/users", {}, 405),
    ("GET", "/api/v1/nothing-here", {}, 404),
    ("POST", "/api/v1/products", {"data": TOO_LARGE, "headers": JSON}, 413),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "status"), BAD_REQUESTS)
def test_errors_are_json_in_the_one_shape(
    api: requests.Session,
    gateway_url: str,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int,
) -> None:
    response = api.request(method, f"{gateway_url}{path}", **kwargs)

    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], dict | list)


def test_validation_error_names_the_field(api: requests.Session, gateway_url: str) -> None:
    response = api.post(f"{gateway_url}/api/v1/users", json={"username": "only_a_name"})

    assert response.status_code == 422
    assert "email" in response.text
