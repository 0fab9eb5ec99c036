"""`GET /api/v1/stats`: the service's own counts, cache hits and misses, uptime."""

from __future__ import annotations

import time
from typing import Any

from flask import current_app
from flask_openapi3 import APIBlueprint
from pydantic import BaseModel

from servicekit.api import api_blueprint
from servicekit.cache import current_cache
from servicekit.database import transaction
from servicekit.errors import ApiError

CountQuery = str


class CacheCounters(BaseModel):
    hits: int | None
    misses: int | None


class StatsResponse(BaseModel):
    service: str
    counts: dict[str, int]
    cache: CacheCounters
    uptime_seconds: float


def stats_blueprint(count_query: CountQuery) -> APIBlueprint:
    """``count_query`` returns one row whose columns are the counts (``count(*) AS users``)."""
    blueprint = api_blueprint("stats", __name__, url_prefix="/api/v1")

    @blueprint.get("/stats", responses={200: StatsResponse})
    def stats() -> dict[str, Any]:
        return {
            "service": current_app.config["SERVICE_NAME"],
            "counts": _counts(count_query),
            "cache": current_cache().counters(),
            "uptime_seconds": round(time.monotonic() - current_app.config["STARTED_AT"], 3),
        }

    return blueprint


def _counts(count_query: CountQuery) -> dict[str, int]:
    with transaction() as cursor:
        cursor.execute(count_query)
        row = cursor.fetchone()
    if row is None:
        raise ApiError("count query returned no row")
    return {name: int(value) for name, value in row.items()}
