"""`/api/v1/orders`: thin routes, with the SQL next to the function that runs it."""

from __future__ import annotations

from typing import Any

from flask import Response
from servicekit.api import api_blueprint
from servicekit.cache import current_cache
from servicekit.database import Cursor, one_row, transaction
from servicekit.errors import Conflict, Unprocessable
from servicekit.queries import EntityTable

from order_service.models import (
    CreateOrder,
    Order,
    OrderList,
    OrderPath,
    OrderQuery,
    OrderStatus,
    StatusChange,
    statuses_leading_to,
)

ORDERS = EntityTable(
    "order",
    "orders",
    "id, user_id, product_id, quantity, unit_price, total_price, status, created_at, updated_at",
    Order,
)
PRODUCT = "product"
orders_api = api_blueprint("orders", __name__, url_prefix="/api/v1/orders")


@orders_api.get("", responses={200: OrderList})
def list_orders(query: OrderQuery) -> Response:
    # psycopg2 sends literals, so the planner folds `NULL IS NULL` away and can use the indexes.
    return ORDERS.cached_page(
        query,
        where="""
            WHERE (%(user_id)s::integer IS NULL OR user_id = %(user_id)s)
              AND (%(status)s::text IS NULL OR status = %(status)s)
        """,
    )


@orders_api.get("/<order_id>", responses={200: Order})
def get_order(path: OrderPath) -> Response:
    return ORDERS.cached_item(path.order_id)


@orders_api.post("", responses={201: Order})
def create_order(body: CreateOrder) -> tuple[dict[str, Any], int, dict[str, str]]:
    order = place_order(body)
    # The order took stock: the product's cached item and lists are stale too.
    current_cache().invalidate(ORDERS.entity)
    current_cache().invalidate(PRODUCT, body.product_id)
    return order, 201, {"Location": f"/api/v1/orders/{order['id']}"}


@orders_api.patch("/<order_id>/status", responses={200: Order})
def change_status(path: OrderPath, body: StatusChange) -> dict[str, Any]:
    order = update_status(path.order_id, body.status)
    current_cache().invalidate(ORDERS.entity, path.order_id)
    if body.status is OrderStatus.CANCELLED:
        current_cache().invalidate(PRODUCT, order["product_id"])
    return order


def place_order(body: CreateOrder) -> dict[str, Any]:
    """Check the references, take the stock and record the order in one transaction."""
    params = body.model_dump()
    with transaction() as cursor:
        _require_references(cursor, params)
        unit_price = _take_stock(cursor, params)
        cursor.execute(
            f"""
            INSERT INTO orders (user_id, product_id, quantity, unit_price, total_price)
            VALUES (%(user_id)s, %(product_id)s, %(quantity)s, %(price)s,
                    %(price)s * %(quantity)s)
            RETURNING {ORDERS.columns}
            """,
            {**params, "price": unit_price},
        )
        row = one_row(cursor)
    return ORDERS.serialise(row)


def _require_references(cursor: Cursor, params: dict[str, Any]) -> None:
    cursor.execute(
        """
        SELECT EXISTS (SELECT FROM users WHERE id = %(user_id)s) AS user_id,
               EXISTS (SELECT FROM products WHERE id = %(product_id)s) AS product_id
        """,
        params,
    )
    exists = one_row(cursor)
    missing = [field for field in ("user_id", "product_id") if not exists[field]]
    if missing:
        details = [
            {"field": field, "message": f"no such {field.removesuffix('_id')}"} for field in missing
        ]
        names = " and ".join(f"{field} {params[field]}" for field in missing)
        raise Unprocessable(f"Unknown {names}", details, code="unknown_reference")


def _take_stock(cursor: Cursor, params: dict[str, Any]) -> Any:
    """Race-free under READ COMMITTED: a concurrent UPDATE of the row waits, then re-checks WHERE.

    The price comes from the same statement, so the total uses the price the stock was taken at.
    """
    cursor.execute(
        """
        UPDATE products SET stock = stock - %(quantity)s, updated_at = now()
        WHERE id = %(product_id)s AND stock >= %(quantity)s
        RETURNING price
        """,
        params,
    )
    taken = cursor.fetchone()
    if taken is None:
        cursor.execute("SELECT stock FROM products WHERE id = %(product_id)s", params)
        available = one_row(cursor)["stock"]
        raise Conflict(
            f"Insufficient stock for product {params['product_id']}: "
            f"quantity {params['quantity']} requested, {available} available",
            {"field": "quantity", "available": available, "requested": params["quantity"]},
            code="insufficient_stock",
        )
    return taken["price"]


def update_status(order_id: int, status: OrderStatus) -> dict[str, Any]:
    """A conditional UPDATE: two concurrent changes cannot both leave the same status."""
    params = {"id": order_id, "status": str(status), "from": statuses_leading_to(status)}
    with transaction() as cursor:
        cursor.execute(
            f"""
            UPDATE orders SET status = %(status)s, updated_at = now()
            WHERE id = %(id)s AND status = ANY(%(from)s)
            RETURNING {ORDERS.columns}
            """,
            params,
        )
        row = cursor.fetchone()
        if row is None:
            raise _transition_refused(cursor, order_id, status)
        if status is OrderStatus.CANCELLED:
            _return_stock(cursor, row)
    return ORDERS.serialise(row)


def _transition_refused(cursor: Cursor, order_id: int, status: OrderStatus) -> Exception:
    cursor.execute("SELECT status FROM orders WHERE id = %(id)s", {"id": order_id})
    current = cursor.fetchone()
    if current is None:
        return ORDERS.not_found(order_id)
    return Conflict(
        f"Cannot change order {order_id} from {current['status']} to {status}",
        {"field": "status", "current": current["status"], "requested": str(status)},
        code="illegal_transition",
    )


def _return_stock(cursor: Cursor, order: dict[str, Any]) -> None:
    # bigint arithmetic: a product restocked to the integer maximum refuses instead of overflowing.
    cursor.execute(
        """
        UPDATE products SET stock = stock + %(quantity)s, updated_at = now()
        WHERE id = %(product_id)s AND stock::bigint + %(quantity)s <= 2147483647
        """,
        order,
    )
    if cursor.rowcount != 1:
        raise Conflict(
            f"Cannot return {order['quantity']} units to product {order['product_id']}: "
            "its stock is at the maximum",
            {"field": "status", "product_id": order["product_id"]},
            code="stock_overflow",
        )
