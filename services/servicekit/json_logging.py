"""One JSON object per log line on stderr, for everything the process logs.

The app's loggers, the request lines (request_log.py) and gunicorn's own start-up, worker and error
lines all reach the root logger's one handler, so a container's log is all JSON lines.

Why not python-json-logger (which this replaced): every request writes a line, and its formatter
(a generic field-renaming pipeline and the standard json encoder) cost a tenth of a cached read.
The line is the same: ``level``, ``logger``, ``message``, the record's extra fields, ``time`` (ISO
8601, UTC), and ``exc_info`` / ``stack_info`` when present.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

_HANDLER_MARKER = "servicekit_json_handler"
# What every LogRecord carries; anything else on a record came from `extra=` and is logged.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in record.__dict__.items():
            if name not in _STANDARD_ATTRIBUTES:
                line[name] = value
        line["time"] = datetime.fromtimestamp(record.created, tz=UTC).isoformat()
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        # default=str: an extra field of any type still makes a line rather than an error.
        return orjson.dumps(line, default=str).decode()


def json_stderr_handler() -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter())
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
