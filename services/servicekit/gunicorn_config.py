"""gunicorn settings.

Run: ``gunicorn --config python:servicekit.gunicorn_config '<package>:create_app()'``.

gthread workers: threads share one connection pool per worker, and idle keep-alive connections from
the gateway wait in the poller instead of holding a thread.
"""

from __future__ import annotations

import gc
import os
from typing import Any

from servicekit import lifecycle
from servicekit.gunicorn_logger import NoAccessLogLogger
from servicekit.json_logging import gunicorn_logconfig, skip_unlogged_record_fields
from servicekit.settings import ServerSettings

_server = ServerSettings.from_env()

bind = f"0.0.0.0:{_server.port}"
worker_class = "gthread"
workers = _server.workers
threads = _server.threads
# The app is built once, in the master, and the workers share its memory (copy on write): a
# service's process tree takes about a third less. Nothing connects while it is built (the pool
# and the Redis client connect on first use), and post_fork below gives each worker connections
# of its own, so no socket crosses a fork.
preload_app = True
timeout = 30
# SIGTERM: stop accepting, let in-flight requests finish for up to this long.
graceful_timeout = 20
# Longer than nginx's upstream keepalive_timeout (60 s), so nginx, not gunicorn, closes idle
# connections and never sends a request on a socket gunicorn is closing.
keepalive = 75
# The heartbeat file on tmpfs: a slow overlay filesystem must not make workers look hung.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# servicekit writes one JSON line per request itself; gunicorn's access log would duplicate it, and
# with a logconfig_dict gunicorn would build its fields on every request (gunicorn_logger.py).
accesslog = None
logger_class = NoAccessLogLogger
# No gunicornc control socket: it defaults to ~/.gunicorn/gunicorn.ctl, which is not writable for
# uid 10001 in the image and would be shared by every gunicorn of one user on a host.
control_socket_disable = True
errorlog = "-"
loglevel = _server.log_level.lower()
# gunicorn's own lines as JSON too, like the app's: a container's log is one JSON object a line.
logconfig_dict = gunicorn_logconfig(_server.log_level)


def on_starting(server: Any) -> None:
    """In the master, before any worker is forked: the draining flag they all share, and log
    records without the fields no line carries (a cost on every request's line)."""
    lifecycle.share_draining_flag()
    skip_unlogged_record_fields()


def when_ready(server: Any) -> None:
    """In the master, the app loaded, before the first fork: keep the shared pages shared, and make
    SIGTERM drain first (servicekit/lifecycle.py), then stop gracefully.

    The warm-up writes in the master what each worker's first requests would otherwise write in
    its own copy (servicekit/warm_up.py). The cyclic garbage collector writes to every object it
    tracks, which would copy each page of the preloaded app into every worker; frozen objects are
    left alone.
    """
    app = server.app.wsgi()
    if _is_servicekit_app(app):
        from servicekit.warm_up import through_gunicorn, warm_up

        try:
            with through_gunicorn(server) as serve:
                warm_up(app, serve)
        except Exception:
            # Only memory is at stake: each worker then builds what the warm-up would have shared.
            server.log.exception("warm-up before the fork failed; the workers start without it")
    gc.collect()
    gc.freeze()
    lifecycle.drain_before_stopping(server, _server.drain_seconds)


def post_fork(server: Any, worker: Any) -> None:
    # With preload_app this is the master's app object, inherited by the fork.
    app = server.app.wsgi()
    if _is_servicekit_app(app):
        from servicekit.app import after_fork

        after_fork(app)


def worker_exit(server: Any, worker: Any) -> None:
    """Close each worker's pool and Redis client on shutdown instead of dropping the sockets."""
    app: Any = getattr(worker, "wsgi", None)
    if _is_servicekit_app(app):
        from servicekit.app import shutdown

        shutdown(app)


def _is_servicekit_app(app: Any) -> bool:
    # Only a servicekit app has the pool and the client (the benchmark serves a bare Flask app too,
    # and must not import servicekit.app into each of its workers).
    return "servicekit.database" in getattr(app, "extensions", {})
