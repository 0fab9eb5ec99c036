"""Request ids and one log line per request (JSON: json_logging.py)."""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

from servicekit.json_logging import log_fields

REQUEST_ID_HEADER = "X-Request-ID"
# Ids from clients are echoed into logs and headers: accept only short, plain tokens.
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

request_logger = logging.getLogger("servicekit.request")


def init_request_log(app: Flask) -> None:
    app.before_request(_start_request)
    app.after_request(_finish_request)


def current_request_id() -> str:
    return str(g.get("request_id", ""))


def _start_request() -> None:
    g.request_started = time.perf_counter()
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if _SANE_REQUEST_ID.match(incoming) else uuid.uuid4().hex


def _finish_request(response: Response) -> Response:
    # Requests that fail before before_request ran (none in practice) still get an id.
    request_id = g.get("request_id") or uuid.uuid4().hex
    response.headers[REQUEST_ID_HEADER] = request_id
    started = g.get("request_started", time.perf_counter())
    # Every request writes this line: log_fields skips the LogRecord where nothing needs one.
    log_fields(
        request_logger,
        logging.INFO,
        "request",
        {
            "request_id": request_id,
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            "remote_addr": request.remote_addr,
        },
    )
    return response
