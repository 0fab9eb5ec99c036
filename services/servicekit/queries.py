"""The two read shapes every service has: one row by id, and a page of rows with its total."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from servicekit.database import transaction
from servicekit.errors import NotFound
from servicekit.validation import PageQuery, page


def serialise(model: type[BaseModel], row: Mapping[str, Any]) -> dict[str, Any]:
    """A database row as the JSON the API returns (and the cache stores)."""
    return model.model_validate(dict(row)).model_dump(mode="json")


def fetch_item(
    sql: str, params: Mapping[str, Any], model: type[BaseModel], entity: str
) -> dict[str, Any]:
    with transaction() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        raise NotFound(f"{entity} {_identity(params)} not found", {"entity": entity, **params})
    return serialise(model, row)


def fetch_page(
    select_sql: str,
    count_sql: str,
    filters: Mapping[str, Any],
    query: PageQuery,
    model: type[BaseModel],
) -> dict[str, Any]:
    """``select_sql`` takes the filters plus ``%(limit)s``/``%(offset)s``; ``count_sql`` the filters
    and returns a ``total`` column."""
    with transaction() as cursor:
        cursor.execute(count_sql, filters)
        total_row = cursor.fetchone()
        cursor.execute(select_sql, {**filters, "limit": query.limit, "offset": query.offset})
        rows = cursor.fetchall()
    total = int(total_row["total"]) if total_row else 0
    return page([serialise(model, row) for row in rows], query, total)


def _identity(params: Mapping[str, Any]) -> str:
    return ", ".join(str(value) for value in params.values())
