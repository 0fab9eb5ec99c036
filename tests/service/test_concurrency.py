"""Concurrent writes through a real multi-threaded, multi-process server (gunicorn gthread)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from launchers.gunicorn import GunicornServer

CLIENTS = 20
# Two workers x ten threads: all twenty requests are in flight at once, in two separate pools.
SERVER_ENVIRONMENT = {"GUNICORN_WORKERS": "2", "GUNICORN_THREADS": "10"}
StartService = Callable[..., GunicornServer]


def fire_simultaneously(send: Callable[[requests.Session], requests.Response]) -> list[int]:
    """Release CLIENTS requests together (a barrier) and return their status codes."""
    barrier = threading.Barrier(CLIENTS, timeout=10)

    def one(_: int) -> int:
        with requests.Session() as session:
            barrier.wait()
            return send(session).status_code

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        return list(pool.map(one, range(CLIENTS)))


def test_twenty_simultaneous_orders_for_five_units_never_oversell(
    start_service: StartService, query: Any, record_property: Callable[[str, Any], None]
) -> None:
    query("UPDATE products SET stock = 5 WHERE id = 2")  # Wireless mouse, 24.99
    service = start_service("orders", **SERVER_ENVIRONMENT)
    payload = {"user_id": 3, "product_id": 2, "quantity": 1}
    started = time.perf_counter()
    statuses = fire_simultaneously(
        lambda session: session.post(f"{service.url}/api/v1/orders", json=payload, timeout=10)
    )
    elapsed = time.perf_counter() - started

    figures = Counter(statuses)
    record_property("concurrency_figures", f"{dict(figures)} in {elapsed:.2f}s")
    print(f"\n20 concurrent orders, stock 5: {dict(figures)} in {elapsed:.2f}s")
    assert figures == {201: 5, 409: 15}
    assert query("SELECT stock FROM products WHERE id = 2") == [{"stock": 0}]
    placed = query(
        "SELECT count(*) AS n, sum(total_price)::text AS total FROM orders WHERE product_id = 2 "
        "AND id > 8"
    )
    assert placed == [{"n": 5, "total": "124.95"}]


def test_twenty_simultaneous_stock_removals_stop_at_zero(
    start_service: StartService, query: Any
) -> None:
    service = start_service("products", **SERVER_ENVIRONMENT)
    url = f"{service.url}/api/v1/products/8/stock"  # Bookshelf: 5 in stock
    statuses = fire_simultaneously(
        lambda session: session.patch(url, json={"delta": -1}, timeout=10)
    )
    assert Counter(statuses) == {200: 5, 409: 15}
    assert query("SELECT stock FROM products WHERE id = 8") == [{"stock": 0}]


@pytest.mark.parametrize("status", ["cancelled", "confirmed"])
def test_a_status_change_happens_once_under_concurrency(
    start_service: StartService, query: Any, status: str
) -> None:
    service = start_service("orders", **SERVER_ENVIRONMENT)
    url = f"{service.url}/api/v1/orders/5/status"  # pending, 1 x product 6 (stock 8)
    statuses = fire_simultaneously(
        lambda session: session.patch(url, json={"status": status}, timeout=10)
    )
    assert Counter(statuses) == {200: 1, 409: 19}
    expected_stock = 9 if status == "cancelled" else 8  # the stock comes back exactly once
    assert query("SELECT stock FROM products WHERE id = 6") == [{"stock": expected_stock}]
