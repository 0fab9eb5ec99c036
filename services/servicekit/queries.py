"""The two read shapes every service has, through the cache: one row by id, and a page of rows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Response
from pydantic import BaseModel

from servicekit.cache import current_cache
from servicekit.database import transaction
from servicekit.errors import NotFound
from servicekit.validation import PageQuery, page


@dataclass(frozen=True)
class EntityTable:
    """One entity's table as the API reads it: ``entity`` names its cache keys and its errors.

    Table, columns and filter clauses are constants of the service's code, never request input;
    values always travel as query parameters.
    """

    entity: str
    table: str
    columns: str
    model: type[BaseModel]

    def cached_item(self, item_id: int) -> Response:
        """The item's JSON as the cache holds it: a hit is sent without decoding it."""
        document = current_cache().item_json(self.entity, item_id, lambda: self.load_item(item_id))
        return json_response(document)

    def cached_page(self, query: PageQuery, where: str = "") -> Response:
        """``where`` refers to the query's filters as ``%(name)s`` (``PageQuery.filters``)."""
        document = current_cache().listing_json(
            self.entity, query.model_dump(mode="json"), lambda: self.load_page(query, where)
        )
        return json_response(document)

    def refresh_cached_item(self, item_id: int) -> None:
        """Call after a write's invalidation, so the next read is a hit (cache.py: ``refresh``)."""
        current_cache().refresh(self.entity, item_id, lambda: self.load_item(item_id))

    def load_item(self, item_id: int) -> dict[str, Any]:
        with transaction() as cursor:
            cursor.execute(
                f"SELECT {self.columns} FROM {self.table} WHERE id = %(id)s", {"id": item_id}
            )
            row = cursor.fetchone()
        if row is None:
            raise self.not_found(item_id)
        return self.serialise(row)

    def load_page(self, query: PageQuery, where: str = "") -> dict[str, Any]:
        filters = query.filters()
        with transaction() as cursor:
            cursor.execute(f"SELECT count(*) AS total FROM {self.table} {where}", filters)
            total_row = cursor.fetchone()
            cursor.execute(
                f"SELECT {self.columns} FROM {self.table} {where}"
                " ORDER BY id LIMIT %(limit)s OFFSET %(offset)s",
                {**filters, "limit": query.limit, "offset": query.offset},
            )
            rows = cursor.fetchall()
        total = int(total_row["total"]) if total_row else 0
        return page([self.serialise(row) for row in rows], query, total)

    def serialise(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """A database row as the JSON the API returns (and the cache stores)."""
        return self.model.model_validate(dict(row)).model_dump(mode="json")

    def not_found(self, item_id: int) -> NotFound:
        return NotFound(
            f"{self.entity} {item_id} not found", {"entity": self.entity, "id": item_id}
        )


def json_response(document: bytes) -> Response:
    return Response(document, mimetype="application/json")
