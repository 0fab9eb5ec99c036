"""Readiness (`/health`: database and cache) and liveness (`/health/live`: the process only)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future

from flask import Blueprint, Flask, Response, current_app, jsonify

from servicekit.cache import current_cache
from servicekit.database import Database
from servicekit.lifecycle import is_draining

# The contract: `/health` answers within 2 s. libpq's connect_timeout cannot go below 2 s, and a
# ping on a pooled connection to a host that drops packets waits until TCP gives up (minutes), so
# the database check gets this long and then counts as unavailable. The rest of the 2 s covers the
# Redis ping (its socket timeouts are 0.25 s) and the response itself.
DATABASE_CHECK_DEADLINE_SECONDS = 1.5

health_blueprint = Blueprint("health", __name__)


class DeadlineCheck:
    """Runs a blocking check on a daemon thread and waits for it at most ``deadline_seconds``.

    One run at a time per process: while a run hangs, later callers wait on that run instead of
    starting another, so an unresponsive database cannot pile up threads or pooled connections.
    """

    def __init__(self, check: Callable[[], bool], deadline_seconds: float) -> None:
        self._check = check
        self._deadline_seconds = deadline_seconds
        self._lock = threading.Lock()
        self._run: Future[bool] | None = None

    def __call__(self) -> bool:
        with self._lock:
            if self._run is None or self._run.done():
                self._run = self._start()
            run = self._run
        try:
            return run.result(timeout=self._deadline_seconds)
        except TimeoutError:
            return False

    def _start(self) -> Future[bool]:
        run: Future[bool] = Future()

        def check() -> None:
            try:
                run.set_result(self._check())
            except BaseException as error:  # re-raised in the request that waits for it
                run.set_exception(error)

        # Daemon: a check still hanging must not hold up the worker's exit.
        threading.Thread(target=check, name="health-database-check", daemon=True).start()
        return run


def init_health(app: Flask, database: Database) -> None:
    app.extensions["servicekit.database_check"] = DeadlineCheck(
        database.is_reachable, DATABASE_CHECK_DEADLINE_SECONDS
    )
    app.register_blueprint(health_blueprint)


@health_blueprint.get("/health")
def readiness() -> tuple[Response, int]:
    database_check: DeadlineCheck = current_app.extensions["servicekit.database_check"]
    checks = {
        "database": "ok" if database_check() else "unavailable",
        "cache": "ok" if current_cache().ping() else "unavailable",
    }
    if is_draining():
        # Stopping (servicekit/lifecycle.py): still serving, but send new work elsewhere.
        status, code = "draining", 503
    elif checks["database"] != "ok":
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
