"""Request and response models: they validate input and generate the OpenAPI document."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from servicekit.validation import (
    INTEGRAL,
    EntityId,
    Money,
    PageQuery,
    RequestBody,
    integer_range,
)

# Bounds one order so that unit price x quantity always fits orders.total_price (NUMERIC(14,2)).
MAX_QUANTITY = 1000
Quantity = Annotated[int, integer_range(1, MAX_QUANTITY), INTEGRAL]


class OrderStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


# The statuses an order may move to, from each status; anything else is a 409.
ALLOWED_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING: frozenset({OrderStatus.CONFIRMED, OrderStatus.CANCELLED}),
    OrderStatus.CONFIRMED: frozenset({OrderStatus.SHIPPED, OrderStatus.CANCELLED}),
    OrderStatus.SHIPPED: frozenset({OrderStatus.DELIVERED}),
    OrderStatus.DELIVERED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
}


def statuses_leading_to(target: OrderStatus) -> list[str]:
    return [str(source) for source, targets in ALLOWED_TRANSITIONS.items() if target in targets]


class CreateOrder(RequestBody):
    # Given, not a docstring: see servicekit.validation.ErrorResponse.
    model_config = ConfigDict(
        json_schema_extra={
            "description": "The price and the total are not accepted:"
            " the server takes them from the product."
        }
    )

    user_id: EntityId
    product_id: EntityId
    quantity: Quantity


class StatusChange(RequestBody):
    # Not strict: in strict mode pydantic wants an OrderStatus instance, and JSON has strings.
    status: OrderStatus = Field(strict=False)


class Order(BaseModel):
    id: int
    user_id: int
    product_id: int
    quantity: int
    unit_price: Money
    total_price: Money
    status: OrderStatus
    created_at: datetime
    updated_at: datetime


class OrderList(BaseModel):
    items: list[Order]
    limit: int
    offset: int
    total: int


class OrderPath(BaseModel):
    order_id: EntityId


class OrderQuery(PageQuery):
    user_id: EntityId | None = Field(None, description="only this user's orders")
    status: OrderStatus | None = Field(None, description="only orders in this status")
