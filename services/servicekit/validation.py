"""Pydantic building blocks shared by the services' request and response models.

Request bodies are strict (no "5" for an integer, no true for a number) and reject unknown fields;
query and path parameters arrive as strings, so they are parsed leniently but still bounded.
Bounds mirror the column types in database/init.sql, so valid input never overflows a column.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, StringConstraints

MAX_INTEGER = 2**31 - 1  # PostgreSQL `integer`
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

EntityId = Annotated[int, Field(ge=1, le=MAX_INTEGER)]

# Control characters (NUL above all, which PostgreSQL text cannot store) never belong in a name.
_SINGLE_LINE = r"^[^\x00-\x1f\x7f]*$"
_NO_NUL = r"^[^\x00]*$"


def single_line_text(max_length: int, min_length: int = 1) -> Any:
    return Annotated[
        str,
        StringConstraints(
            strip_whitespace=True,
            min_length=min_length,
            max_length=max_length,
            pattern=_SINGLE_LINE,
        ),
    ]


def free_text(max_length: int) -> Any:
    return Annotated[str, StringConstraints(max_length=max_length, pattern=_NO_NUL)]


# Money travels as a JSON number; it is stored and computed as NUMERIC, never as a float.
Money = Annotated[
    Decimal,
    Field(ge=0, max_digits=10, decimal_places=2, allow_inf_nan=False, strict=False),
    PlainSerializer(float, return_type=float, when_used="json"),
]


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class QueryParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")


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
    """The one error shape, documented for every operation."""

    error: ErrorDetail
