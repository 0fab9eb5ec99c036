"""Users, products and orders end to end through the gateway, reading back every write at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests


def test_created_user_is_readable_at_once_and_listed(
    api: requests.Session, service_urls: dict[str, str], new_user: Callable[[], dict[str, Any]]
) -> None:
    users = service_urls["users"]
    total_before = api.get(users, params={"limit": 1}).json()["total"]

    user = new_user()

    assert api.get(f"{users}/{user['id']}").json() == user
    assert api.get(users, params={"limit": 1}).json()["total"] == total_before + 1


def test_duplicate_username_is_a_409(
    api: requests.Session, service_urls: dict[str, str], new_user: Callable[[], dict[str, Any]]
) -> None:
    user = new_user()

    response = api.post(
        service_urls["users"],
        json={"username": user["username"], "email": f"other.{user['email']}"},
    )

    assert response.status_code == 409
    assert "username" in response.text


def test_stock_change_is_read_back_at_once_after_a_cached_read(
    api: requests.Session, service_urls: dict[str, str], new_product: Callable[..., dict[str, Any]]
) -> None:
    product_url = f"{service_urls['products']}/{new_product(stock=4)['id']}"
    assert api.get(product_url).json()["stock"] == 4  # now cached

    changed = api.patch(f"{product_url}/stock", json={"stock": 9})

    assert changed.status_code == 200
    assert api.get(product_url).json()["stock"] == 9


def test_order_takes_stock_and_prices_on_the_server(
    api: requests.Session,
    service_urls: dict[str, str],
    new_user: Callable[[], dict[str, Any]],
    new_product: Callable[..., dict[str, Any]],
) -> None:
    user, product = new_user(), new_product(stock=5, price=2.5)
    product_url = f"{service_urls['products']}/{product['id']}"
    assert api.get(product_url).json()["stock"] == 5  # cached before the order

    response = api.post(
        service_urls["orders"],
        json={"user_id": user["id"], "product_id": product["id"], "quantity": 2},
    )

    assert response.status_code == 201, response.text
    order = response.json()
    assert order["status"] == "pending"
    assert order["total_price"] == 5.0
    assert api.get(f"{service_urls['orders']}/{order['id']}").json() == order
    # Written by the order service, read through the product service: never the stale cache.
    assert api.get(product_url).json()["stock"] == 3


def test_client_sent_total_is_refused(
    api: requests.Session,
    service_urls: dict[str, str],
    new_user: Callable[[], dict[str, Any]],
    new_product: Callable[..., dict[str, Any]],
) -> None:
    user, product = new_user(), new_product(stock=5, price=10)
    body = {"user_id": user["id"], "product_id": product["id"], "quantity": 1, "total_price": 0}

    response = api.post(service_urls["orders"], json=body)

    assert response.status_code == 422
    assert "total_price" in response.text
    assert api.get(f"{service_urls['products']}/{product['id']}").json()["stock"] == 5


def test_cancelling_gives_the_stock_back(
    api: requests.Session,
    service_urls: dict[str, str],
    new_user: Callable[[], dict[str, Any]],
    new_product: Callable[..., dict[str, Any]],
) -> None:
    user, product = new_user(), new_product(stock=3)
    order = api.post(
        service_urls["orders"],
        json={"user_id": user["id"], "product_id": product["id"], "quantity": 3},
    ).json()
    order_url = f"{service_urls['orders']}/{order['id']}"

    cancelled = api.patch(f"{order_url}/status", json={"status": "cancelled"})

    assert cancelled.status_code == 200
    assert api.get(order_url).json()["status"] == "cancelled"
    assert api.get(f"{service_urls['products']}/{product['id']}").json()["stock"] == 3


def test_illegal_transition_is_a_409_and_keeps_the_status(
    api: requests.Session,
    service_urls: dict[str, str],
    new_user: Callable[[], dict[str, Any]],
    new_product: Callable[..., dict[str, Any]],
) -> None:
    user, product = new_user(), new_product()
    order = api.post(
        service_urls["orders"],
        json={"user_id": user["id"], "product_id": product["id"], "quantity": 1},
    ).json()
    order_url = f"{service_urls['orders']}/{order['id']}"

    response = api.patch(f"{order_url}/status", json={"status": "delivered"})

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "illegal_transition"
    assert api.get(order_url).json()["status"] == "pending"


def test_orders_filter_by_user(
    api: requests.Session,
    service_urls: dict[str, str],
    new_user: Callable[[], dict[str, Any]],
    new_product: Callable[..., dict[str, Any]],
) -> None:
    user, product = new_user(), new_product()
    for quantity in (1, 2):
        api.post(
            service_urls["orders"],
            json={"user_id": user["id"], "product_id": product["id"], "quantity": quantity},
        )

    listed = api.get(service_urls["orders"], params={"user_id": user["id"]}).json()

    assert listed["total"] == 2
    assert sorted(item["quantity"] for item in listed["items"]) == [1, 2]
