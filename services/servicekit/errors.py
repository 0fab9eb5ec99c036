"""One JSON error shape for every failure: ``{"error": {"code", "message", "details"}}``.

Domain code raises the typed errors below; ``register_error_handlers`` turns those, werkzeug's
HTTP exceptions, request validation failures and unexpected exceptions into that shape. Handlers are
registered on the app, not on blueprints, because blueprint handlers never see routing 404/405.
"""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar

import psycopg2
import psycopg2.pool
from flask import Flask, Response, jsonify
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException, InternalServerError

Details = dict[str, Any] | list[Any]

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """An error the client should see; subclasses fix the status and the default code."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, details: Details | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.details: Details = details if details is not None else {}
        self.error_code = code or self.code


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class Unprocessable(ApiError):
    status = 422
    code = "validation_error"


def error_response(
    status: int, code: str, message: str, details: Details | None = None
) -> Response:
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    response = jsonify(body)
    response.status_code = status
    return response


def validation_failed(error: ValidationError) -> None:
    """flask-openapi3's ``validation_error_callback``: raise instead of building its own body."""
    raise request_validation_error(error)


def request_validation_error(error: ValidationError) -> Unprocessable:
    details = [
        {"field": _field_name(item["loc"]), "message": item["msg"], "type": item["type"]}
        for item in error.errors(include_url=False, include_input=False, include_context=False)
    ]
    fields = ", ".join(dict.fromkeys(detail["field"] for detail in details))
    first = details[0]
    message = (
        f"Invalid value for '{first['field']}': {first['message']}"
        if len(details) == 1
        else f"Invalid values for: {fields}"
    )
    return Unprocessable(message, details)


def _field_name(location: tuple[int | str, ...]) -> str:
    # An empty location means the whole input (e.g. a JSON array where an object was expected).
    return ".".join(str(part) for part in location) or "body"


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ApiError, _handle_api_error)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(psycopg2.OperationalError, _handle_database_unavailable)
    app.register_error_handler(psycopg2.pool.PoolError, _handle_database_unavailable)
    app.register_error_handler(Exception, _handle_unexpected)


def _handle_api_error(error: ApiError) -> Response:
    return error_response(error.status, error.error_code, error.message, error.details)


def _handle_http_exception(error: HTTPException) -> Response:
    # get_response() keeps the status and headers werkzeug chose (Allow on 405, for example).
    response = error.get_response()
    status = response.status_code
    code = _snake_case(error.name) if error.code else "error"
    message = error.description or error.name
    json_response = error_response(status, code, message)
    for name, value in response.headers.items():
        if name.lower() not in {"content-type", "content-length"}:
            json_response.headers[name] = value
    return json_response


def _handle_database_unavailable(error: psycopg2.Error) -> Response:
    # Connection failures, statement timeouts, an exhausted pool: not the client's fault, and
    # worth retrying, so 503 rather than 500.
    first_line = next(iter(str(error).strip().splitlines()), type(error).__name__)
    logger.warning("database unavailable: %s", first_line)
    return error_response(503, "database_unavailable", "The database is not available")


def _handle_unexpected(error: Exception) -> Response:
    logger.exception("unhandled error", exc_info=error)
    server_error = InternalServerError()
    return error_response(500, "internal_error", server_error.description or "Internal error")


def _snake_case(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
