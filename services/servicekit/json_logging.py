"""One JSON object per log line on stderr, for everything the process logs (python-json-logger).

The app's loggers, the request lines (request_log.py) and gunicorn's own start-up, worker and error
lines all reach the root logger's one handler, so a container's log is all JSON lines.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from pythonjsonlogger.json import JsonFormatter

_HANDLER_MARKER = "servicekit_json_handler"


def json_stderr_handler() -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "{levelname}{name}{message}",
            style="{",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",  # ISO 8601 in UTC, from the record's creation time
        )
    )
    setattr(handler, _HANDLER_MARKER, True)
    return handler


def configure_logging(level: str) -> None:
    """Called by the app factory; under gunicorn the handler is already there (logconfig_dict)."""
    root = logging.getLogger()
    root.setLevel(level)
    if not any(getattr(handler, _HANDLER_MARKER, False) for handler in root.handlers):
        root.addHandler(json_stderr_handler())


def gunicorn_logconfig(level: str) -> dict[str, Any]:
    """gunicorn's ``logconfig_dict``: its loggers lose their plain-text handlers and propagate."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"json_stderr": {"()": f"{__name__}.json_stderr_handler"}},
        "root": {"level": level, "handlers": ["json_stderr"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": [], "propagate": True},
            # A logconfig_dict turns gunicorn's access log on; servicekit already writes one line
            # per request (request_log.py), so this one stays silent.
            "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
        },
    }
