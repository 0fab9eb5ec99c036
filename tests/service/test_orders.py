"""order-service: references, server-side totals, stock taken atomically, status transitions."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.service.assertions import assert_error, error_fields

# Sample data: product 8 (Bookshelf) costs 149.90 and has 5 in stock.
BOOKSHELF = 8


def place(orders: FlaskClient, quantity: int = 2, **overrides: Any) -> Any:
    payload = {"user_id": 1, "product_id": BOOKSHELF, "quantity": quantity, **overrides}
    return orders.post("/api/v1/orders", json=payload)


def stock_of(query: Any, product_id: int = BOOKSHELF) -> int:
    return query("SELECT stock FROM products WHERE id = %s", (product_id,))[0]["stock"]


def order_count(query: Any) -> int:
    return query("SELECT count(*) AS n FROM orders")[0]["n"]


def set_status(orders: FlaskClient, order_id: int, status: str) -> Any:
    return orders.patch(f"/api/v1/orders/{order_id}/status", json={"status": status})


def test_order_takes_stock_and_totals_on_the_server(orders: FlaskClient, query: Any) -> None:
    response = place(orders, quantity=3)
    assert response.status_code == 201
    order = response.get_json()
    assert (order["status"], order["unit_price"], order["total_price"]) == ("pending", 149.9, 449.7)
    assert response.headers["Location"] == f"/api/v1/orders/{order['id']}"
    assert stock_of(query) == 2
    row = query("SELECT total_price::text AS total FROM orders WHERE id = %s", (order["id"],))
    assert row == [{"total": "449.70"}]


def test_client_sent_price_or_total_is_refused(orders: FlaskClient, query: Any) -> None:
    response = place(orders, total_price=0.01, unit_price=0.01)
    assert_error(response, 422, "validation_error", "total_price")
    assert sorted(error_fields(response)) == ["total_price", "unit_price"]
    assert (order_count(query), stock_of(query)) == (8, 5)


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        ({"user_id": 99}, ["user_id"]),
        ({"product_id": 99}, ["product_id"]),
        ({"user_id": 98, "product_id": 99}, ["user_id", "product_id"]),
    ],
)
def test_unknown_reference_is_422_naming_it_and_keeps_stock(
    orders: FlaskClient, query: Any, overrides: dict[str, int], fields: list[str]
) -> None:
    response = place(orders, **overrides)
    error = assert_error(response, 422, "unknown_reference", fields[0])
    assert [detail["field"] for detail in error["details"]] == fields
    assert (order_count(query), stock_of(query)) == (8, 5)


def test_insufficient_stock_is_409_and_changes_nothing(orders: FlaskClient, query: Any) -> None:
    error = assert_error(place(orders, quantity=6), 409, "insufficient_stock", "quantity")
    assert error["details"] == {"field": "quantity", "available": 5, "requested": 6}
    assert (order_count(query), stock_of(query)) == (8, 5)


def test_the_last_units_can_be_ordered(orders: FlaskClient, query: Any) -> None:
    assert place(orders, quantity=5).status_code == 201
    assert stock_of(query) == 0
    assert_error(place(orders, quantity=1), 409, "insufficient_stock")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"quantity": 0}, "quantity"),
        ({"quantity": -1}, "quantity"),
        ({"quantity": 1001}, "quantity"),
        ({"quantity": "2"}, "quantity"),
        ({"quantity": 1.5}, "quantity"),
        ({"quantity": None}, "quantity"),
        ({"user_id": "1"}, "user_id"),
        ({"user_id": 0}, "user_id"),
        ({"product_id": 2**31}, "product_id"),
        ({"product_id": True}, "product_id"),
    ],
)
def test_invalid_order_is_422_and_writes_nothing(
    orders: FlaskClient, query: Any, overrides: dict[str, Any], field: str
) -> None:
    response = place(orders, **overrides)
    assert_error(response, 422, "validation_error", field)
    assert error_fields(response) == [field]
    assert (order_count(query), stock_of(query)) == (8, 5)


def test_whole_numbers_written_as_floats_are_integers(orders: FlaskClient, query: Any) -> None:
    # JSON Schema, and so the published document, counts 2.0 as an integer (the fuzz test sends it).
    response = place(orders, quantity=2.0, user_id=1.0)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert (response.get_json()["quantity"], stock_of(query)) == (2, 3)


def test_missing_fields_are_all_named(orders: FlaskClient) -> None:
    response = orders.post("/api/v1/orders", json={})
    assert error_fields(response) == ["user_id", "product_id", "quantity"]


def test_list_filters_by_user_and_status(orders: FlaskClient) -> None:
    body = orders.get("/api/v1/orders?user_id=1").get_json()
    assert [order["id"] for order in body["items"]] == [1, 2]
    body = orders.get("/api/v1/orders?status=pending").get_json()
    assert [order["id"] for order in body["items"]] == [4, 5]
    body = orders.get("/api/v1/orders?user_id=2&status=pending").get_json()
    assert ([order["id"] for order in body["items"]], body["total"]) == ([4], 1)
    assert orders.get("/api/v1/orders").get_json()["total"] == 8


@pytest.mark.parametrize(
    ("query_string", "field"), [("status=lost", "status"), ("user_id=me", "user_id")]
)
def test_bad_filter_is_422(orders: FlaskClient, query_string: str, field: str) -> None:
    assert_error(orders.get(f"/api/v1/orders?{query_string}"), 422, "validation_error", field)


def test_get_and_missing_order(orders: FlaskClient) -> None:
    assert orders.get("/api/v1/orders/3").get_json()["status"] == "confirmed"
    assert_error(orders.get("/api/v1/orders/77"), 404, "not_found")
    assert_error(orders.get("/api/v1/orders/seven"), 422, field="order_id")


def test_an_order_walks_the_whole_lifecycle(orders: FlaskClient, query: Any) -> None:
    order_id = place(orders).get_json()["id"]
    for status in ("confirmed", "shipped", "delivered"):
        response = set_status(orders, order_id, status)
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["status"] == status
    assert stock_of(query) == 3


@pytest.mark.parametrize("before", [[], ["confirmed"]])
def test_cancelling_gives_the_stock_back(
    orders: FlaskClient, query: Any, before: list[str]
) -> None:
    order_id = place(orders, quantity=4).get_json()["id"]
    for status in before:
        set_status(orders, order_id, status)
    assert stock_of(query) == 1
    assert set_status(orders, order_id, "cancelled").get_json()["status"] == "cancelled"
    assert stock_of(query) == 5


@pytest.mark.parametrize(
    ("path", "illegal"),
    [
        ([], "shipped"),
        ([], "delivered"),
        ([], "pending"),
        (["confirmed"], "confirmed"),
        (["confirmed", "shipped"], "cancelled"),
        (["confirmed", "shipped", "delivered"], "cancelled"),
        (["cancelled"], "confirmed"),
        (["cancelled"], "cancelled"),
    ],
)
def test_illegal_transition_is_409_and_changes_nothing(
    orders: FlaskClient, query: Any, path: list[str], illegal: str
) -> None:
    order_id = place(orders).get_json()["id"]
    for status in path:
        assert set_status(orders, order_id, status).status_code == 200
    stock_before = stock_of(query)
    error = assert_error(set_status(orders, order_id, illegal), 409, "illegal_transition")
    assert error["details"]["requested"] == illegal
    expected = path[-1] if path else "pending"
    assert query("SELECT status FROM orders WHERE id = %s", (order_id,)) == [{"status": expected}]
    assert stock_of(query) == stock_before


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"status": "lost"}, "status"),
        ({}, "status"),
        ({"status": 1}, "status"),
        ({"status": "confirmed", "note": "x"}, "note"),
    ],
)
def test_invalid_status_body_is_422(
    orders: FlaskClient, payload: dict[str, Any], field: str
) -> None:
    assert_error(orders.patch("/api/v1/orders/4/status", json=payload), 422, field=field)


def test_status_change_of_missing_order_is_404(orders: FlaskClient) -> None:
    assert_error(set_status(orders, 404, "confirmed"), 404, "not_found")


def test_stats_count_orders_by_status(orders: FlaskClient) -> None:
    counts = orders.get("/api/v1/stats").get_json()["counts"]
    assert counts == {
        "orders": 8,
        "pending": 2,
        "confirmed": 2,
        "shipped": 1,
        "delivered": 2,
        "cancelled": 1,
    }
