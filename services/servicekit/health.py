"""Readiness (`/health`: database and cache) and liveness (`/health/live`: the process only)."""

from __future__ import annotations

import psycopg2
from flask import Blueprint, Response, current_app, jsonify

from servicekit.cache import current_cache
from servicekit.database import transaction

health_blueprint = Blueprint("health", __name__)


@health_blueprint.get("/health")
def readiness() -> tuple[Response, int]:
    checks = {
        "database": _database_status(),
        "cache": "ok" if current_cache().ping() else "unavailable",
    }
    if checks["database"] != "ok":
        status, code = "unavailable", 503
    elif checks["cache"] != "ok":
        # Reads and writes still work without Redis: degraded, but ready for traffic.
        status, code = "degraded", 200
    else:
        status, code = "ok", 200
    service = current_app.config["SERVICE_NAME"]
    return jsonify({"status": status, "service": service, "checks": checks}), code


@health_blueprint.get("/health/live")
def liveness() -> Response:
    return jsonify({"status": "ok"})


def _database_status() -> str:
    try:
        with transaction() as cursor:
            cursor.execute("SELECT 1")
    except psycopg2.Error:
        return "unavailable"
    return "ok"
