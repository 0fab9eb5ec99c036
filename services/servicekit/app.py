"""The app factory every service builds on: config in, app out, no import-time side effects.

Why flask-openapi3: one set of pydantic v2 models validates each request (body, query, path) and
generates the OpenAPI 3.1 document, so the published contract cannot drift from what the code
enforces; it is a thin layer over Flask (blueprints, error handlers, app factory all unchanged) and
is actively maintained. Its validation errors are routed into the one error shape (errors.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from flask import Response, jsonify, request
from flask_cors import CORS
from flask_openapi3 import APIBlueprint, Info, OpenAPI
from werkzeug.exceptions import BadRequest
from werkzeug.middleware.proxy_fix import ProxyFix

from servicekit.cache import Cache
from servicekit.database import Database, init_database
from servicekit.errors import register_error_handlers, validation_failed
from servicekit.health import init_health
from servicekit.json_logging import configure_logging
from servicekit.request_log import REQUEST_ID_HEADER, init_request_log
from servicekit.settings import Settings
from servicekit.stats import stats_blueprint

API_VERSION = "1.0.0"
# The gateway's client_max_body_size: the service protects itself when reached directly.
MAX_BODY_BYTES = 1024 * 1024
_METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


def create_service_app(
    settings: Settings | None,
    *,
    service_name: str,
    import_name: str,
    apis: Iterable[APIBlueprint],
    count_query: str,
) -> OpenAPI:
    """The app each service's ``create_app(settings=None)`` returns; ``None``: read the environment.

    ``count_query`` returns one row whose columns are the counts ``/api/v1/stats`` reports.
    """
    settings = settings or Settings.from_env(service_name)
    configure_logging(settings.log_level)
    app = OpenAPI(
        import_name,
        # "order_service" -> "microstack order-service", the folder's name.
        info=Info(title=f"microstack {import_name.replace('_', '-')}", version=API_VERSION),
        # Without it the document says `securitySchemes: null`, which is not valid OpenAPI.
        security_schemes={},
        validation_error_callback=validation_failed,
        doc_ui=False,
    )
    app.config.update(
        SERVICE_NAME=settings.service_name,
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        STARTED_AT=time.monotonic(),
    )
    register_error_handlers(app)
    init_request_log(app)
    app.before_request(_parse_json_body)
    database = Database(settings)
    init_database(app, database)
    # Neither connects here: the pool fills on first use, after gunicorn's fork.
    app.extensions["servicekit.cache"] = Cache(settings)
    for api in (*apis, stats_blueprint(count_query)):
        app.register_api(api)
    init_health(app, database)
    _publish_openapi_document(app, settings.service_name)
    _init_http(app, settings)
    return app


def after_fork(app: OpenAPI) -> None:
    """In a new gunicorn worker (``post_fork``), before its first request: connections of its own.

    With ``preload_app`` the app is built once in the master and the workers inherit it; a socket
    must never be shared by two processes, so each worker gets its own Redis client here, and the
    database pool (always built on first use) is checked to be still unbuilt.
    """
    app.extensions["servicekit.database"].after_fork()
    app.extensions["servicekit.cache"].after_fork()


def shutdown(app: OpenAPI) -> None:
    """Close the pool and the Redis client (gunicorn's worker_exit hook calls this)."""
    app.extensions["servicekit.database"].close()
    app.extensions["servicekit.cache"].close()


def _init_http(app: OpenAPI, settings: Settings) -> None:
    if settings.cors_allowed_origins:
        CORS(
            app,
            origins=list(settings.cors_allowed_origins),
            expose_headers=[REQUEST_ID_HEADER],
            max_age=600,
        )
    if settings.trusted_proxy_count:
        hops = settings.trusted_proxy_count
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops
        )


def _publish_openapi_document(app: OpenAPI, service_name: str) -> None:
    def openapi_document() -> Response:
        return jsonify(app.api_doc)

    app.add_url_rule(f"/api/v1/{service_name}/openapi.json", "openapi_document", openapi_document)


def _parse_json_body() -> None:
    """Reject bad bodies before validation: wrong content type 415, malformed JSON 400, huge 413.

    flask-openapi3 reads bodies with ``get_json(silent=True)``, which would turn all three into a
    vague 422; parsing here first makes werkzeug raise the precise error (and caches the result).
    """
    if request.method not in _METHODS_WITH_BODY or request.routing_exception is not None:
        return
    try:
        request.get_json()
    except RecursionError:
        # json.loads recurses per nesting level; a body of 100k "[" would otherwise be a 500.
        raise BadRequest("Failed to decode JSON object: nested too deeply") from None
