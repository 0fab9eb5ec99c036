"""Pydantic building blocks shared by the services' request and response models.

Request bodies are strict (no "5" for an integer, no true for a number; 3.0 is an integer, as JSON
Schema says) and reject unknown fields; query and path parameters arrive as strings, so they are
parsed leniently but still bounded.
Bounds mirror the column types in database/init.sql, so valid input never overflows a column.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
)

MAX_INTEGER = 2**31 - 1  # PostgreSQL `integer`
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def _integral_float(value: Any) -> Any:
    # JSON Schema, and so the published documents, count 3.0 as an integer; strict mode alone
    # would refuse it. Fractions, booleans and strings are still refused.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# An integer written 3 or 3.0: `Annotated[int, integer_range(lo, hi), INTEGRAL]`. The range goes
# before the validator, or pydantic documents it as unknown keys `ge`/`le` instead of
# `minimum`/`maximum`.
INTEGRAL = BeforeValidator(_integral_float)


def integer_range(minimum: int, maximum: int) -> Any:
    """The bounds of an integer field, ``[minimum, maximum]``."""
    return Field(ge=minimum, le=maximum)


EntityId = Annotated[int, integer_range(1, MAX_INTEGER), INTEGRAL]

# Control characters (NUL above all, which PostgreSQL text cannot store) never belong in a name.
_SINGLE_LINE = r"^[^\x00-\x1f\x7f]*$"
_NO_NUL = r"^[^\x00]*$"


def single_line_text(max_length: int, min_length: int = 1) -> StringConstraints:
    """For `Annotated[str, ...]`: one line, trimmed, without control characters."""
    return StringConstraints(
        strip_whitespace=True, min_length=min_length, max_length=max_length, pattern=_SINGLE_LINE
    )


def free_text(max_length: int) -> StringConstraints:
    """For `Annotated[str, ...]`: any text but NUL, which PostgreSQL cannot store."""
    return StringConstraints(max_length=max_length, pattern=_NO_NUL)


# Money travels as a JSON number, or as a plain decimal string ("12.50") for clients that keep
# amounts exact; it is stored and computed as NUMERIC, never as a float.
MONEY_TEXT = r"^[0-9]{1,8}(\.[0-9]{1,2})?$"
_MONEY_JSON_SCHEMA = {
    "anyOf": [
        # NUMERIC(10, 2). multipleOf 0.01 is how JSON Schema says "two decimals".
        {"type": "number", "minimum": 0, "maximum": 99999999.99, "multipleOf": 0.01},
        {"type": "string", "pattern": MONEY_TEXT},
    ]
}


def _plain_money_text(value: Any) -> Any:
    # Decimal() alone also takes " 5 ", "5_0", "1e2", "+5" or non-ASCII digits: a price
    # must not depend on such readings, and the document must say what is accepted.
    if isinstance(value, str) and not re.fullmatch(MONEY_TEXT, value):
        raise ValueError("should be a number or a decimal string such as '12.50'")
    return value


Money = Annotated[
    Decimal,
    Field(ge=0, max_digits=10, decimal_places=2, allow_inf_nan=False, strict=False),
    BeforeValidator(_plain_money_text),
    PlainSerializer(float, return_type=float, when_used="json"),
    # pydantic's own schema for a lax Decimal has an unanchored pattern ("1abc" passes it).
    WithJsonSchema(_MONEY_JSON_SCHEMA),
]


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class QueryParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The schema, built once per model for the argument-less call.

        flask-openapi3 (4.x) calls ``model_json_schema()`` on every request with a query model,
        to find its array fields: about half a millisecond per list read, for a schema that never
        changes. That call only reads the result; the OpenAPI document passes arguments and still
        gets a fresh schema.
        """
        if args or kwargs:
            return super().model_json_schema(*args, **kwargs)
        # Keyed by class: a subclass (ProductQuery) must not reuse its base's schema.
        if cls not in _QUERY_SCHEMAS:
            _QUERY_SCHEMAS[cls] = super().model_json_schema()
        return _QUERY_SCHEMAS[cls]


_QUERY_SCHEMAS: dict[type[QueryParameters], dict[str, Any]] = {}


class PageQuery(QueryParameters):
    limit: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="page size")
    offset: int = Field(0, ge=0, le=MAX_INTEGER, description="items to skip")

    def filters(self) -> dict[str, Any]:
        """The fields a subclass adds (``category``, ``status``...), as SQL parameters."""
        return self.model_dump(mode="json", exclude={"limit", "offset"})


def page(items: list[dict[str, Any]], query: PageQuery, total: int) -> dict[str, Any]:
    return {"items": items, "limit": query.limit, "offset": query.offset, "total": total}


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: dict[str, Any] | list[Any]


class ErrorResponse(BaseModel):
    # A model's description in the OpenAPI document is given, never taken from its docstring: the
    # services run with PYTHONOPTIMIZE=2, which drops docstrings (servicekit/contract.py).
    model_config = ConfigDict(
        json_schema_extra={"description": "The one error shape, documented for every operation."}
    )

    error: ErrorDetail
