"""The blueprint every service declares its API on, with the one error shape documented."""

from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag
from flask_openapi3.types import ResponseDict

from servicekit.validation import ErrorResponse

# Every status the error handlers (errors.py) and the body checks (app.py) can answer with.
# Declared per blueprint because flask-openapi3 applies the app's own `responses` only to routes
# declared on the app itself; it also keeps its default 422 (a bare array of pydantic errors,
# not what validation_failed returns) off every operation that documents its own 422.
ERROR_RESPONSES: ResponseDict = {
    status: ErrorResponse for status in (400, 404, 409, 413, 415, 422, 503)
}


def api_blueprint(name: str, import_name: str, url_prefix: str) -> APIBlueprint:
    """Operations grouped under the tag ``name``, each documenting ``ERROR_RESPONSES``."""
    return APIBlueprint(
        name,
        import_name,
        url_prefix=url_prefix,
        abp_tags=[Tag(name=name)],
        abp_responses=ERROR_RESPONSES,
    )
