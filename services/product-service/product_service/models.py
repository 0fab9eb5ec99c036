"""Request and response models: they validate input and generate the OpenAPI document."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator
from servicekit.validation import (
    INTEGRAL,
    MAX_INTEGER,
    EntityId,
    Money,
    PageQuery,
    RequestBody,
    free_text,
    integer_range,
    single_line_text,
)

ProductName = Annotated[str, single_line_text(200)]
Category = Annotated[str, single_line_text(50)]
Description = Annotated[str, free_text(2000)]
Stock = Annotated[int, integer_range(0, MAX_INTEGER), INTEGRAL]
StockDelta = Annotated[int, integer_range(-MAX_INTEGER, MAX_INTEGER), INTEGRAL]


class CreateProduct(RequestBody):
    name: ProductName
    description: Description = ""
    category: Category
    price: Money
    stock: Stock = 0


class StockChange(RequestBody):
    # What exactly_one() enforces, in the document: one of the two is present and not null. (The
    # description is given, not a docstring: see servicekit.validation.ErrorResponse.)
    model_config = ConfigDict(
        json_schema_extra={
            "description": 'Either set the stock (``{"stock": 12}``) or adjust it'
            ' (``{"delta": -3}``), never both.',
            "oneOf": [
                {"required": [name], "properties": {name: {"type": "integer"}}}
                for name in ("stock", "delta")
            ],
        }
    )

    stock: Stock | None = Field(None, description="new absolute stock")
    delta: StockDelta | None = Field(None, description="units to add (negative: remove)")

    @model_validator(mode="after")
    def exactly_one(self) -> StockChange:
        if (self.stock is None) == (self.delta is None):
            raise ValueError("give exactly one of 'stock' or 'delta'")
        return self


class Product(BaseModel):
    id: int
    name: str
    description: str
    category: str
    price: Money
    stock: int
    created_at: datetime
    updated_at: datetime


class ProductList(BaseModel):
    items: list[Product]
    limit: int
    offset: int
    total: int


class ProductPath(BaseModel):
    product_id: EntityId


class ProductQuery(PageQuery):
    category: Category | None = Field(None, description="only this category")
