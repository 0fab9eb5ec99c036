"""product-service endpoints against real PostgreSQL and Redis."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.service.assertions import assert_error, error_fields

NEW_PRODUCT = {"name": "Fountain pen", "category": "office", "price": 12.5, "stock": 30}


def stock_of(query: Any, product_id: int) -> int:
    return query("SELECT stock FROM products WHERE id = %s", (product_id,))[0]["stock"]


def test_list_returns_the_ten_sample_products(products: FlaskClient) -> None:
    body = products.get("/api/v1/products").get_json()
    assert body["total"] == 10
    assert len(body["items"]) == 10
    assert {item["category"] for item in body["items"]} == {
        "electronics",
        "books",
        "furniture",
        "groceries",
    }


def test_list_filters_by_category(products: FlaskClient) -> None:
    body = products.get("/api/v1/products?category=books&limit=1").get_json()
    assert [item["name"] for item in body["items"]] == ["The Pragmatic Programmer"]
    assert (body["limit"], body["total"]) == (1, 2)


@pytest.mark.parametrize("category", ["%00", "%20", "x" * 51])
def test_bad_category_filter_is_422(products: FlaskClient, category: str) -> None:
    assert_error(products.get(f"/api/v1/products?category={category}"), 422, field="category")


def test_unknown_category_is_an_empty_page(products: FlaskClient) -> None:
    body = products.get("/api/v1/products?category=toys").get_json()
    assert (body["items"], body["total"]) == ([], 0)


def test_get_returns_price_as_number(products: FlaskClient) -> None:
    product = products.get("/api/v1/products/2").get_json()
    assert (product["name"], product["price"], product["stock"]) == ("Wireless mouse", 24.99, 120)


def test_missing_product_is_404(products: FlaskClient) -> None:
    assert_error(products.get("/api/v1/products/11"), 404, "not_found")


@pytest.mark.parametrize("product_id", ["x", "-3", "0", "2147483648"])
def test_bad_product_id_is_422(products: FlaskClient, product_id: str) -> None:
    assert_error(products.get(f"/api/v1/products/{product_id}"), 422, field="product_id")


def test_create_stores_the_product(products: FlaskClient, query: Any) -> None:
    response = products.post("/api/v1/products", json={**NEW_PRODUCT, "price": "12.50"})
    assert response.status_code == 201
    created = response.get_json()
    assert created["id"] == 11
    assert (created["price"], created["stock"], created["description"]) == (12.5, 30, "")
    assert response.headers["Location"] == "/api/v1/products/11"
    row = query("SELECT price::text AS price, stock FROM products WHERE id = 11")[0]
    assert row == {"price": "12.50", "stock": 30}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"price": -1}, "price"),
        ({"price": 1.999}, "price"),
        ({"price": "cheap"}, "price"),
        ({"price": 123456789.0}, "price"),
        ({"price": True}, "price"),
        # Decimal() reads these, but the document promises digits with at most two decimals.
        ({"price": " 5"}, "price"),
        ({"price": "1e2"}, "price"),
        ({"price": "5_0"}, "price"),
        ({"price": "+5"}, "price"),
        ({"price": "1.999"}, "price"),
        ({"stock": -1}, "stock"),
        ({"stock": "3"}, "stock"),
        ({"stock": 2.5}, "stock"),
        ({"stock": 2**31}, "stock"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "tab\there"}, "name"),
        ({"category": None}, "category"),
        ({"description": "nul\u0000byte"}, "description"),
        ({"description": "lone \udc00 surrogate"}, "description"),
        ({"description": "d" * 2001}, "description"),
        ({"sku": "A-1"}, "sku"),
    ],
)
def test_invalid_product_is_422_naming_the_field_and_writes_nothing(
    products: FlaskClient, query: Any, change: dict[str, Any], field: str
) -> None:
    response = products.post("/api/v1/products", json={**NEW_PRODUCT, **change})
    assert_error(response, 422, "validation_error", field)
    assert error_fields(response) == [field]
    assert query("SELECT count(*) AS n FROM products")[0]["n"] == 10


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_price_is_422(products: FlaskClient, literal: str) -> None:
    body = f'{{"name": "p", "category": "c", "price": {literal}}}'
    response = products.post("/api/v1/products", data=body, content_type="application/json")
    assert_error(response, 422, "validation_error", "price")


def test_stock_can_be_set(products: FlaskClient, query: Any) -> None:
    response = products.patch("/api/v1/products/8/stock", json={"stock": 42})
    assert response.status_code == 200
    assert response.get_json()["stock"] == 42
    assert stock_of(query, 8) == 42


def test_stock_written_as_a_whole_float_is_an_integer(products: FlaskClient, query: Any) -> None:
    # JSON Schema, and so the published document, counts 42.0 as an integer.
    assert products.patch("/api/v1/products/8/stock", json={"stock": 42.0}).status_code == 200
    assert products.patch("/api/v1/products/8/stock", json={"delta": -2.0}).status_code == 200
    assert stock_of(query, 8) == 40


def test_stock_can_be_adjusted(products: FlaskClient, query: Any) -> None:
    assert products.patch("/api/v1/products/8/stock", json={"delta": 3}).get_json()["stock"] == 8
    assert products.patch("/api/v1/products/8/stock", json={"delta": -8}).get_json()["stock"] == 0
    assert stock_of(query, 8) == 0


def test_stock_never_goes_below_zero(products: FlaskClient, query: Any) -> None:
    error = assert_error(
        products.patch("/api/v1/products/8/stock", json={"delta": -6}), 409, "insufficient_stock"
    )
    assert error["details"]["available"] == 5
    assert stock_of(query, 8) == 5


def test_stock_above_the_integer_range_is_refused(products: FlaskClient, query: Any) -> None:
    products.patch("/api/v1/products/8/stock", json={"stock": 2**31 - 1})
    assert_error(products.patch("/api/v1/products/8/stock", json={"delta": 1}), 409)
    assert stock_of(query, 8) == 2**31 - 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "body"),
        ({"stock": 1, "delta": 1}, "body"),
        ({"stock": -1}, "stock"),
        ({"stock": "7"}, "stock"),
        ({"delta": 0.5}, "delta"),
        ({"delta": -(2**31)}, "delta"),
        ({"amount": 1}, "amount"),
    ],
)
def test_invalid_stock_change_is_422(
    products: FlaskClient, query: Any, payload: dict[str, Any], field: str
) -> None:
    response = products.patch("/api/v1/products/8/stock", json=payload)
    assert_error(response, 422, "validation_error", field)
    assert stock_of(query, 8) == 5


def test_stock_change_of_missing_product_is_404(products: FlaskClient) -> None:
    assert_error(products.patch("/api/v1/products/99/stock", json={"stock": 1}), 404, "not_found")


def test_stats_count_products_and_categories(products: FlaskClient) -> None:
    body = products.get("/api/v1/stats").get_json()
    assert body["service"] == "products"
    assert body["counts"]["products"] == 10
    assert body["counts"]["categories"] == 4
