"""Stock is never oversold, and a refused order changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from tests.support.https import gateway_session

STOCK = 5
CONCURRENT_ORDERS = 20


def test_concurrent_orders_never_oversell(
    ca_file: Path,
    api: requests.Session,
    service_urls: dict[str, str],
    new_user: Callable[[], dict[str, Any]],
    new_product: Callable[..., dict[str, Any]],
    stock_of: Callable[[Any], int],
) -> None:
    user, product = new_user(), new_product(stock=STOCK)
    body = {"user_id": user["id"], "product_id": product["id"], "quantity": 1}

    def place(_: int) -> int:
        with gateway_session(ca_file, retry_rate_limited=True) as session:
            return session.post(service_urls["orders"], json=body, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=CONCURRENT_ORDERS) as pool:
        statuses = list(pool.map(place, range(CONCURRENT_ORDERS)))

    assert statuses.count(201) == STOCK
    assert statuses.count(409) == CONCURRENT_ORDERS - STOCK
    assert stock_of(product) == 0
    placed = api.get(service_urls["orders"], params={"user_id": user["id"]}).json()
    assert placed["total"] == STOCK


def test_insufficient_stock_is_a_409_and_takes_nothing(
    api: requests.Session,
    service_urls: dict[str, str],
    new_user: Callable[[], dict[str, Any]],
    new_product: Callable[..., dict[str, Any]],
    place_order: Callable[..., requests.Response],
    stock_of: Callable[[Any], int],
) -> None:
    user, product = new_user(), new_product(stock=2)

    response = place_order(user, product, quantity=3)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "insufficient_stock"
    assert stock_of(product) == 2
    assert api.get(service_urls["orders"], params={"user_id": user["id"]}).json()["total"] == 0


def test_order_for_a_missing_user_is_422_naming_it_and_keeps_stock(
    new_product: Callable[..., dict[str, Any]],
    place_order: Callable[..., requests.Response],
    stock_of: Callable[[Any], int],
) -> None:
    product = new_product(stock=4)
    missing_user = {"id": 2_000_000_000}

    response = place_order(missing_user, product)

    assert response.status_code == 422
    assert "user_id" in response.json()["error"]["message"]
    assert stock_of(product) == 4
