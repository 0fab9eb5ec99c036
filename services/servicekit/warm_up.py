"""Requests the app serves to itself in gunicorn's master, before the fork, so workers share them.

Why: the workers share the master's memory until they write to it, and a request writes to far
more than its own objects. CPython 3.11 rewrites a function's bytecode as it runs it (quickening
and specialisation), fills type attribute caches, imports some modules on first use
(``encodings.idna``) and werkzeug compiles its URL matcher on the first match: done in a worker,
every page written becomes that worker's own copy, and each worker pays for it again. Done once in
the master, those pages are written before the fork and stay shared. A product tree (master and
two workers, the sum of PSS) after wrk on a cached item and a cached list of 20 and 300 reads
and writes: 74.3 -> 70.9 MB; each worker copies 1.7 MB less on its first request.

Only requests that are refused before any view runs, since nothing may connect before the fork
(app.after_fork): the liveness probe, a path no route matches (404), every route with a path
parameter asked with one that fails validation (422), every operation with query parameters
asked with one it does not declare (422: servicekit's query models forbid extras), and every
route that takes a body asked with a malformed one (400). Should a route ever reach its view (a
parameter that accepts any text), the connections it opened are closed again before the fork.
Their log lines are not written: they are not anybody's requests.

Under gunicorn they are served the way gunicorn serves a client (``through_gunicorn``): its HTTP
parser, the WSGI environ it builds and its response writer run on a socket pair, so their code is
specialised in the master as well (a product tree after the benchmark: about 0.5 MB less).
"""

from __future__ import annotations

import io
import logging
import os
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from flask_openapi3 import OpenAPI
from gunicorn.workers.gthread import TConn, ThreadWorker
from werkzeug.wrappers import Response

from servicekit.app import shutdown
from servicekit.request_log import request_logger

# CPython 3.11 quickens a function after 8 calls; a few more let its instructions specialise.
ROUNDS = 10
REFUSED_ARGUMENT = "warm-up"
_METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
_HEADERS = {
    # What the gateway sends, so that ProxyFix and the request id take their usual path.
    "Host": "warm-up.invalid",
    "X-Forwarded-For": "127.0.0.1",
    "X-Forwarded-Proto": "https",
    "X-Request-ID": "warm-up",
}

# (method, path, query string, body) -> the response's status code
Serve = Callable[[str, str, str, bytes], int]


def warm_up(app: OpenAPI, serve: Serve | None = None) -> list[int]:
    """Serve the refused requests ``ROUNDS`` times; the statuses of the last round.

    ``serve``: how a request reaches the app (``through_gunicorn``); straight through WSGI if None.
    """
    requests = list(refused_requests(app))
    serve = serve or partial(_serve, app)
    quiet = _DropAll()
    request_logger.addFilter(quiet)
    try:
        for _ in range(ROUNDS):
            statuses = [serve(*request) for request in requests]
    finally:
        request_logger.removeFilter(quiet)
        shutdown(app)
    return statuses


def refused_requests(app: OpenAPI) -> Iterator[tuple[str, str, str, bytes]]:
    """(method, path, query string, body) for every request ``warm_up`` serves."""
    yield "GET", "/health/live", "", b""
    yield "GET", "/warm-up/no-such-route", "", b""
    urls = app.url_map.bind("warm-up.invalid")
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if method in _METHODS_WITH_BODY:
                path = urls.build(rule.endpoint, dict.fromkeys(rule.arguments, "0"), method=method)
                yield method, path, "", b"{"
            elif rule.arguments:
                values = dict.fromkeys(rule.arguments, REFUSED_ARGUMENT)
                yield method, urls.build(rule.endpoint, values, method=method), "", b""
            elif _has_query_parameters(app, rule.rule, method):
                yield method, rule.rule, f"{REFUSED_ARGUMENT}=1", b""
            # Otherwise nothing would refuse it: its view would run.


def _has_query_parameters(app: OpenAPI, path: str, method: str) -> bool:
    operation = app.api_doc.get("paths", {}).get(path, {}).get(method.lower(), {})
    return any(parameter.get("in") == "query" for parameter in operation.get("parameters", []))


def _serve(app: OpenAPI, method: str, path: str, query: str, body: bytes) -> int:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "warm-up.invalid",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json" if body else "",
        "CONTENT_LENGTH": str(len(body)) if body else "",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        **{"HTTP_" + name.upper().replace("-", "_"): value for name, value in _HEADERS.items()},
    }
    return Response.from_app(app, environ, buffered=True).status_code


@contextmanager
def through_gunicorn(arbiter: Any) -> Iterator[Serve | None]:
    """A ``Serve`` that hands each request to a gthread worker built for the purpose, over a
    socket pair; None (serve through WSGI) under another worker class."""
    if not issubclass(arbiter.worker_class, ThreadWorker):
        yield None
        return
    # Built like the arbiter builds its workers, but never run: no thread, no listening socket.
    worker = arbiter.worker_class(
        0, os.getpid(), [], arbiter.app, arbiter.timeout, arbiter.cfg, arbiter.log
    )
    worker.wsgi = arbiter.app.wsgi()
    try:
        yield partial(_serve_through_worker, worker)
    finally:
        worker.tmp.close()


def _serve_through_worker(
    worker: ThreadWorker, method: str, path: str, query: str, body: bytes
) -> int:
    head = [f"{method} {path}{'?' + query if query else ''} HTTP/1.1"]
    head += [f"{name}: {value}" for name, value in _HEADERS.items()]
    if body:
        head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall("\r\n".join(head).encode("ascii") + b"\r\n\r\n" + body)
        worker.handle(TConn(worker.cfg, ours, ("127.0.0.1", 0), ("warm-up.invalid", 80)))
        # The whole response is in the pair's buffer by now; its status line comes first.
        return int(theirs.recv(65536).split(b" ", 2)[1])


class _DropAll(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return False
