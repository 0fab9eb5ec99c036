"""`/api/v1/products`: thin routes, with the SQL next to the function that runs it."""

from __future__ import annotations

from typing import Any

from flask import Response
from servicekit.api import api_blueprint
from servicekit.cache import current_cache
from servicekit.database import one_row, transaction
from servicekit.errors import Conflict
from servicekit.queries import EntityTable

from product_service.models import (
    CreateProduct,
    Product,
    ProductList,
    ProductPath,
    ProductQuery,
    StockChange,
)

PRODUCTS = EntityTable(
    "product",
    "products",
    "id, name, description, category, price, stock, created_at, updated_at",
    Product,
)
products_api = api_blueprint("products", __name__, url_prefix="/api/v1/products")


@products_api.get("", responses={200: ProductList})
def list_products(query: ProductQuery) -> Response:
    # psycopg2 sends literals, so the planner folds `NULL IS NULL` away and can use the index.
    return PRODUCTS.cached_page(
        query, where="WHERE (%(category)s::text IS NULL OR category = %(category)s)"
    )


@products_api.get("/<product_id>", responses={200: Product})
def get_product(path: ProductPath) -> Response:
    return PRODUCTS.cached_item(path.product_id)


@products_api.post("", responses={201: Product})
def create_product(body: CreateProduct) -> tuple[dict[str, Any], int, dict[str, str]]:
    product = insert_product(body)
    current_cache().invalidate(PRODUCTS.entity)
    return product, 201, {"Location": f"/api/v1/products/{product['id']}"}


@products_api.patch("/<product_id>/stock", responses={200: Product})
def change_stock(path: ProductPath, body: StockChange) -> dict[str, Any]:
    product = update_stock(path.product_id, body)
    current_cache().invalidate(PRODUCTS.entity, path.product_id)
    PRODUCTS.refresh_cached_item(path.product_id)
    return product


def insert_product(body: CreateProduct) -> dict[str, Any]:
    sql = f"""
        INSERT INTO products (name, description, category, price, stock)
        VALUES (%(name)s, %(description)s, %(category)s, %(price)s, %(stock)s)
        RETURNING {PRODUCTS.columns}
    """
    with transaction() as cursor:
        cursor.execute(sql, body.model_dump())
        row = one_row(cursor)
    return PRODUCTS.serialise(row)


def update_stock(product_id: int, change: StockChange) -> dict[str, Any]:
    """One conditional UPDATE: concurrent changes queue on the row lock and re-check the bounds."""
    # bigint arithmetic so that an out-of-range result is refused here instead of overflowing.
    new_stock = "%(stock)s" if change.stock is not None else "stock::bigint + %(delta)s"
    sql = f"""
        UPDATE products SET stock = {new_stock}, updated_at = now()
        WHERE id = %(id)s AND {new_stock} BETWEEN 0 AND 2147483647
        RETURNING {PRODUCTS.columns}
    """
    with transaction() as cursor:
        cursor.execute(sql, {"id": product_id, **change.model_dump()})
        row = cursor.fetchone()
        if row is None:
            raise _stock_refused(cursor, product_id, change)
    return PRODUCTS.serialise(row)


def _stock_refused(cursor: Any, product_id: int, change: StockChange) -> Exception:
    cursor.execute("SELECT stock FROM products WHERE id = %(id)s", {"id": product_id})
    current = cursor.fetchone()
    if current is None:
        return PRODUCTS.not_found(product_id)
    return Conflict(
        f"Insufficient stock for product {product_id}: {current['stock']} available, "
        f"cannot apply a change of {change.delta}",
        {"field": "delta", "available": current["stock"], "delta": change.delta},
        code="insufficient_stock",
    )
