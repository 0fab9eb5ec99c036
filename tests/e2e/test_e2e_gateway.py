"""The stack's front door: health, TLS verified against the published CA, HTTP redirected."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
import requests


def _origin_and_path(url: str) -> tuple[str, str | None, int, str, str]:
    parts = urlsplit(url)
    port = parts.port or {"https": 443, "http": 80}[parts.scheme]
    return parts.scheme, parts.hostname, port, parts.path, parts.query


def test_health_is_ok_for_all_three_services(
    api: requests.Session, stack_outputs: dict[str, Any]
) -> None:
    response = api.get(stack_outputs["health_url"])

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["services"]) == {"users", "products", "orders"}
    assert body["failing"] == []


def test_http_is_redirected_permanently_to_the_https_gateway(
    api: requests.Session, stack_outputs: dict[str, Any], gateway_url: str
) -> None:
    http_url = str(stack_outputs["gateway_http_url"]).rstrip("/")

    response = api.get(f"{http_url}/api/v1/products?limit=1", allow_redirects=False)

    assert response.status_code == 301
    # Compared as parts: "https://host" and "https://host:443" are the same place.
    assert _origin_and_path(response.headers["Location"]) == _origin_and_path(
        f"{gateway_url}/api/v1/products?limit=1"
    )


@pytest.mark.parametrize("service", ["users", "products", "orders"])
def test_each_service_publishes_openapi_and_stats(
    api: requests.Session, gateway_url: str, service: str
) -> None:
    openapi = api.get(f"{gateway_url}/api/v1/{service}/openapi.json")
    stats = api.get(f"{gateway_url}/api/v1/{service}/stats")

    assert openapi.status_code == 200
    assert openapi.json()["openapi"].startswith("3.")
    assert stats.status_code == 200
    assert {"hits", "misses"} <= stats.json()["cache"].keys()


def test_security_headers_are_present(api: requests.Session, gateway_url: str) -> None:
    response = api.get(f"{gateway_url}/api/v1/users?limit=1")

    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Request-ID"]
