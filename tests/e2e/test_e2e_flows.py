"""Users, products and orders end to end through the gateway, reading back every write at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests

Factory = Callable[..., dict[str, Any]]


def test_created_user_is_readable_at_once_and_listed(
    api: requests.Session, service_urls: dict[str, str], new_user: Factory
) -> None:
    users = service_urls["users"]
    total_before = api.get(users, params={"limit": 1}).json()["total"]

    user = new_user()

    assert api.get(f"{users}/{user['id']}").json() == user
    assert api.get(users, params={"limit": 1}).json()["total"] == total_before + 1


def test_duplicate_username_is_a_409(
    api: requests.Session, service_urls: dict[str, str], new_user: Factory
) -> None:
    user = new_user()

    response = api.post(
        service_urls["users"],
        json={"username": user["username"], "email": f"other.{user['email']}"},
    )

    assert response.status_code == 409
    assert "username" in response.text


def test_stock_change_is_read_back_at_once_after_a_cached_read(
    api: requests.Session,
    service_urls: dict[str, str],
    new_product: Factory,
    stock_of: Callable[[Any], int],
) -> None:
    product = new_product(stock=4)
    assert stock_of(product) == 4  # now cached

    changed = api.patch(f"{service_urls['products']}/{product['id']}/stock", json={"stock": 9})

    assert changed.status_code == 200
    assert stock_of(product) == 9


def test_order_takes_stock_and_prices_on_the_server(
    api: requests.Session,
    service_urls: dict[str, str],
    new_user: Factory,
    new_product: Factory,
    place_order: Callable[..., requests.Response],
    stock_of: Callable[[Any], int],
) -> None:
    user, product = new_user(), new_product(stock=5, price=2.5)
    assert stock_of(product) == 5  # cached before the order

    response = place_order(user, product, quantity=2)

    assert response.status_code == 201, response.text
    order = response.json()
    assert order["status"] == "pending"
    assert order["total_price"] == 5.0
    assert api.get(f"{service_urls['orders']}/{order['id']}").json() == order
    # Written by the order service, read through the product service: never the stale cache.
    assert stock_of(product) == 3


def test_client_sent_total_is_refused(
    new_user: Factory,
    new_product: Factory,
    place_order: Callable[..., requests.Response],
    stock_of: Callable[[Any], int],
) -> None:
    user, product = new_user(), new_product(stock=5, price=10)

    response = place_order(user, product, quantity=1, total_price=0)

    assert response.status_code == 422
    assert "total_price" in response.text
    assert stock_of(product) == 5


def test_cancelling_gives_the_stock_back(
    api: requests.Session,
    service_urls: dict[str, str],
    new_user: Factory,
    new_product: Factory,
    new_order: Factory,
    stock_of: Callable[[Any], int],
) -> None:
    user, product = new_user(), new_product(stock=3)
    order_url = f"{service_urls['orders']}/{new_order(user, product, quantity=3)['id']}"

    cancelled = api.patch(f"{order_url}/status", json={"status": "cancelled"})

    assert cancelled.status_code == 200
    assert api.get(order_url).json()["status"] == "cancelled"
    assert stock_of(product) == 3


def test_illegal_transition_is_a_409_and_keeps_the_status(
    api: requests.Session,
    service_urls: dict[str, str],
    new_user: Factory,
    new_product: Factory,
    new_order: Factory,
) -> None:
    order_url = f"{service_urls['orders']}/{new_order(new_user(), new_product())['id']}"

    response = api.patch(f"{order_url}/status", json={"status": "delivered"})

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "illegal_transition"
    assert api.get(order_url).json()["status"] == "pending"


def test_orders_filter_by_user(
    api: requests.Session,
    service_urls: dict[str, str],
    new_user: Factory,
    new_product: Factory,
    new_order: Factory,
) -> None:
    user, product = new_user(), new_product()
    for quantity in (1, 2):
        new_order(user, product, quantity=quantity)

    listed = api.get(service_urls["orders"], params={"user_id": user["id"]}).json()

    assert listed["total"] == 2
    assert sorted(item["quantity"] for item in listed["items"]) == [1, 2]
