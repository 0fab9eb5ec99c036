"""product-service: the catalogue and its stock (`/api/v1/products`)."""

from __future__ import annotations

from flask_openapi3 import OpenAPI
from servicekit.app import create_service_app
from servicekit.settings import Settings

from product_service.routes import products_api

PRODUCT_COUNTS = """
    SELECT count(*) AS products,
           count(DISTINCT category) AS categories,
           coalesce(sum(stock), 0) AS units_in_stock
    FROM products
"""


def create_app(settings: Settings | None = None) -> OpenAPI:
    return create_service_app(
        settings,
        service_name="products",
        import_name=__name__,
        apis=[products_api],
        count_query=PRODUCT_COUNTS,
    )
