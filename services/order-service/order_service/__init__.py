"""order-service: orders, which take stock from products in the same transaction."""

from __future__ import annotations

from flask_openapi3 import OpenAPI
from servicekit.app import create_service_app
from servicekit.settings import Settings

from order_service.routes import orders_api

ORDER_COUNTS = """
    SELECT count(*) AS orders,
           count(*) FILTER (WHERE status = 'pending') AS pending,
           count(*) FILTER (WHERE status = 'confirmed') AS confirmed,
           count(*) FILTER (WHERE status = 'shipped') AS shipped,
           count(*) FILTER (WHERE status = 'delivered') AS delivered,
           count(*) FILTER (WHERE status = 'cancelled') AS cancelled
    FROM orders
"""


def create_app(settings: Settings | None = None) -> OpenAPI:
    return create_service_app(
        settings,
        service_name="orders",
        import_name=__name__,
        apis=[orders_api],
        count_query=ORDER_COUNTS,
    )
