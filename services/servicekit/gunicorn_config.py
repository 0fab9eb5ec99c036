"""gunicorn settings.

Run: ``gunicorn --config python:servicekit.gunicorn_config '<package>:create_app()'``.

gthread workers: threads share one connection pool per worker, and idle keep-alive connections from
the gateway wait in the poller instead of holding a thread.
"""

from __future__ import annotations

import os
from typing import Any

from servicekit.json_logging import gunicorn_logconfig
from servicekit.settings import ServerSettings

_server = ServerSettings.from_env()

bind = f"0.0.0.0:{_server.port}"
worker_class = "gthread"
workers = _server.workers
threads = _server.threads
# Pools are built per worker after the fork; preloading would share libpq sockets across forks.
preload_app = False
timeout = 30
# SIGTERM: stop accepting, let in-flight requests finish for up to this long.
graceful_timeout = 20
# Longer than nginx's upstream keepalive_timeout (60 s), so nginx, not gunicorn, closes idle
# connections and never sends a request on a socket gunicorn is closing.
keepalive = 75
# The heartbeat file on tmpfs: a slow overlay filesystem must not make workers look hung.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# servicekit writes one JSON line per request itself; gunicorn's access log would duplicate it.
accesslog = None
# No gunicornc control socket: it defaults to ~/.gunicorn/gunicorn.ctl, which is not writable for
# uid 10001 in the image and would be shared by every gunicorn of one user on a host.
control_socket_disable = True
errorlog = "-"
loglevel = _server.log_level.lower()
# gunicorn's own lines as JSON too, like the app's: a container's log is one JSON object a line.
logconfig_dict = gunicorn_logconfig(_server.log_level)


def worker_exit(server: Any, worker: Any) -> None:
    """Close each worker's pool and Redis client on shutdown instead of dropping the sockets."""
    from servicekit.app import shutdown

    app = getattr(worker, "wsgi", None)
    # Only a servicekit app has the pool and the client (the benchmark serves a bare Flask app too).
    if app is not None and "servicekit.database" in getattr(app, "extensions", {}):
        shutdown(app)
