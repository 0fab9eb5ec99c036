"""Routes through the gateway reach the right service with the path preserved."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from launchers.gateway import Gateway

SERVICES = ("users", "products", "orders")


def get_json(https: requests.Session, url: str, **params: object) -> Any:
    """GET through the gateway, which must answer 200 with a JSON body."""
    response = https.get(url, params=params)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_list_is_routed_to_its_service(
    https: requests.Session, gateway: Gateway, service: str
) -> None:
    body = get_json(https, f"{gateway.url}/api/v1/{service}", limit=2)

    assert body["limit"] == 2
    assert len(body["items"]) == 2


def test_item_path_and_query_are_preserved(https: requests.Session, gateway: Gateway) -> None:
    product = get_json(https, f"{gateway.url}/api/v1/products/3")
    by_category = get_json(
        https, f"{gateway.url}/api/v1/products", category=product["category"], limit=100
    )

    assert product["id"] == 3
    assert {item["category"] for item in by_category["items"]} == {product["category"]}


@pytest.mark.parametrize("service", SERVICES)
def test_stats_route_maps_to_that_services_stats(
    https: requests.Session, gateway: Gateway, service: str
) -> None:
    body = get_json(https, f"{gateway.url}/api/v1/{service}/stats")

    assert body["service"] == service
    assert {"hits", "misses"} <= body["cache"].keys()
    assert body["uptime_seconds"] >= 0


@pytest.mark.parametrize("service", SERVICES)
def test_openapi_document_passes_through(
    https: requests.Session, gateway: Gateway, service: str
) -> None:
    document = get_json(https, f"{gateway.url}/api/v1/{service}/openapi.json")

    assert document["openapi"].startswith("3.")


def test_post_through_gateway_creates_and_reads_back(
    https: requests.Session, gateway: Gateway
) -> None:
    created = https.post(
        f"{gateway.url}/api/v1/users",
        json={"username": "gateway_writer", "email": "gateway_writer@example.com"},
    )
    read_back = https.get(f"{gateway.url}/api/v1/users/{created.json()['id']}")

    assert created.status_code == 201
    assert read_back.json()["username"] == "gateway_writer"


@pytest.mark.parametrize(
    "path", ["/", "/api/v1/nothing", "/api/v1/usersx", "/api/v2/users", "/_health/users"]
)
def test_unknown_paths_are_a_json_404_from_the_gateway(
    https: requests.Session, gateway: Gateway, path: str
) -> None:
    response = https.get(f"{gateway.url}{path}")

    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == "not_found"


def test_service_404_body_passes_through_unchanged(
    https: requests.Session, gateway: Gateway
) -> None:
    response = https.get(f"{gateway.url}/api/v1/users/999999")

    assert response.status_code == 404
    error = response.json()["error"]
    # The service's own error (it names the resource), not the gateway's "No route" body.
    assert error["message"] != "No route matches this path."
