"""One JSON object per log line on stderr, for everything the process logs.

The app's loggers, the request lines (request_log.py) and gunicorn's own start-up, worker and error
lines all reach the root logger's one handler, so a container's log is all JSON lines.

Why not python-json-logger (which this replaced): every request writes a line, and its formatter
(a generic field-renaming pipeline and the standard json encoder) cost a tenth of a cached read.
The line is the same: ``level``, ``logger``, ``message``, the record's extra fields, ``time`` (ISO
8601, UTC), and ``exc_info`` / ``stack_info`` when present. The request line, written for every
request, goes through ``log_fields``, which writes that same line without making a LogRecord
when this handler is the only place it can go.

Why a handler of our own: logging's StreamHandler holds a lock around every write and flush, and
under load the request threads queued behind it, each hand-over of the lock and of the GIL a
context switch (py-spy: 8 % of a product worker's samples waiting in ``Handler.acquire``). Then,
with one ``write(2)`` per line and no lock, the write itself was the cost: a system call in the
middle of every request, during which another thread takes the GIL and after which the request
waits to get it back (7 % of a product worker's busy samples under the cached-item load).

So a request only appends its line to a queue, and one thread per process writes what has
queued ``FLUSH_INTERVAL_SECONDS`` after the first line of a batch, whole lines in writes of at
most ``PIPE_BUF`` bytes: such a write to a pipe is atomic (pipe(7)), as is any write to a regular
file on Linux, so lines never interleave with another process's. Nothing waits longer than that
interval, and nothing is lost on the way out: logging.shutdown (at exit) and ``flush()`` write
the rest. Only a process killed outright (SIGKILL, a crash) loses what it queued in its last
interval. Warnings and errors, and lines longer than ``PIPE_BUF`` (tracebacks), are written at
once, after what queued before them; so is every line while ``MAX_PENDING_LINES`` wait (a reader
of the stream that falls behind slows the writers down instead of filling memory). Streams
without a file descriptor (pytest's capture, a StringIO) are written through the stream, at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

# How long a queued line may wait for the writer thread (module docstring).
FLUSH_INTERVAL_SECONDS = 0.05
MAX_PENDING_LINES = 10_000
_HANDLER_MARKER = "servicekit_json_handler"
# What every LogRecord carries; anything else on a record came from `extra=` and is logged.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        """The line without its newline, for a handler of another kind."""
        return self.line(record).decode().rstrip("\n")

    def line(self, record: logging.LogRecord) -> bytes:
        """The record as one JSON line, newline included."""
        extra = {
            name: value
            for name, value in record.__dict__.items()
            if name not in _STANDARD_ATTRIBUTES
        }
        fields = _fields(record.levelname, record.name, record.getMessage(), extra, record.created)
        if record.exc_info:
            fields["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            fields["stack_info"] = self.formatStack(record.stack_info)
        return _encode(fields)


def _fields(
    level: str, logger: str, message: str, extra: Mapping[str, Any], created: float
) -> dict[str, Any]:
    """The one shape of a line, whether a LogRecord was made for it or not (``log_fields``)."""
    return {
        "level": level,
        "logger": logger,
        "message": message,
        **extra,
        # orjson writes an aware datetime as isoformat() would, in a third of the time.
        "time": datetime.fromtimestamp(created, tz=UTC),
    }


def _encode(fields: dict[str, Any]) -> bytes:
    # default=str: an extra field of any type still makes a line rather than an error.
    return orjson.dumps(fields, default=str, option=orjson.OPT_APPEND_NEWLINE)


class JsonLineHandler(logging.StreamHandler):
    """JSON lines on a stream: queued, and written together by one thread per process in writes
    of at most ``PIPE_BUF`` bytes (module docstring)."""

    def __init__(self, stream: Any = None) -> None:
        super().__init__(stream)
        self.setFormatter(JsonLineFormatter())
        self._fd = _file_descriptor(self.stream)
        self._pending: deque[bytes] = deque()
        # One writer of the descriptor at a time, so that queued lines keep their order.
        self._writing = threading.Lock()
        self._queued = threading.Event()
        self._writer_pid: int | None = None
        _QUEUEING_HANDLERS.add(self)

    def handle(self, record: logging.LogRecord) -> bool:
        # logging.Handler.handle would hold the lock around emit; emit takes it only if needed.
        if not self.filter(record):
            return False
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._send(self._line(record), record.levelno)
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def emit_fields(self, level: int, logger: str, message: str, extra: Mapping[str, Any]) -> None:
        """What ``emit`` writes for such a record, without making the record (``log_fields``)."""
        fields = _fields(logging.getLevelName(level), logger, message, extra, time.time())
        try:
            self._send(_encode(fields), level)
        except Exception:
            record = {"name": logger, "levelno": level, "msg": message}
            self.handleError(logging.makeLogRecord(record))

    def _send(self, line: bytes, level: int) -> None:
        """Queue the line, or write it at once (the module docstring says when)."""
        if self._fd is None:
            with self.lock:  # type: ignore[union-attr]
                self._write_all(line)
        elif (
            level >= logging.WARNING
            or len(line) > select.PIPE_BUF
            or len(self._pending) >= MAX_PENDING_LINES
        ):
            with self._writing:
                self._write_pending(self._fd)
                self._write_all(line)
        else:
            self._pending.append(line)  # deque.append: safe without a lock
            if not self._queued.is_set():
                self._queued.set()
            if self._writer_pid != os.getpid():
                self._start_writer()

    def flush(self) -> None:
        """Write every queued line now (logging.shutdown calls this at exit)."""
        if self._fd is None:
            super().flush()
            return
        with self._writing:
            self._write_pending(self._fd)

    def _line(self, record: logging.LogRecord) -> bytes:
        if isinstance(self.formatter, JsonLineFormatter):
            return self.formatter.line(record)
        return (self.format(record) + "\n").encode()

    def _start_writer(self) -> None:
        with self._writing:
            if self._writer_pid == os.getpid():
                return
            self._writer_pid = os.getpid()
        # Daemon: the process's exit does not wait for it; logging.shutdown writes the rest.
        writer = threading.Thread(target=self._write_periodically, name="log-writer", daemon=True)
        writer.start()

    def _write_periodically(self) -> None:
        # Asleep while nothing is queued: a process that seldom logs (gunicorn's master) must not
        # wake up to find nothing, since every wake-up writes to pages it shares with its workers.
        while True:
            self._queued.wait()
            time.sleep(FLUSH_INTERVAL_SECONDS)
            # Cleared before the queue is drained: a line queued from here on sets it again.
            self._queued.clear()
            # The stream is gone (EPIPE, EBADF): nobody could read these lines.
            with contextlib.suppress(OSError):
                self.flush()

    def _write_pending(self, fd: int) -> None:
        """Queued lines, whole, in writes of at most PIPE_BUF bytes; the caller holds _writing."""
        chunk: list[bytes] = []
        size = 0
        while self._pending:
            line = self._pending.popleft()
            if chunk and size + len(line) > select.PIPE_BUF:
                self._write_lines(fd, chunk, size)
                chunk, size = [], 0
            chunk.append(line)
            size += len(line)
        if chunk:
            self._write_lines(fd, chunk, size)

    def _write_lines(self, fd: int, lines: list[bytes], size: int) -> None:
        # writev: one system call and no joined copy (which the writer thread would malloc).
        written = os.writev(fd, lines)
        if written < size:  # cut short by a signal: the rest, in order
            self._write_all(b"".join(lines)[written:])

    def _write_all(self, data: bytes) -> None:
        if self._fd is None:
            self.stream.write(data.decode())
            self.stream.flush()
            return
        view = memoryview(data)
        while view:  # a write cut short by a signal: the rest, in order
            view = view[os.write(self._fd, view) :]

    def _after_fork_in_child(self) -> None:
        # A thread holding the lock at the fork does not exist here, and what was queued is the
        # parent's to write: written by both, it would appear twice.
        self._writing = threading.Lock()
        self._queued = threading.Event()
        self._pending = deque()


def log_fields(logger: logging.Logger, level: int, message: str, extra: Mapping[str, Any]) -> None:
    """``logger.log(level, message, extra=extra)``: the same line, for a line written very often.

    When the record would reach exactly one handler, a plain JsonLineHandler (the services'
    configuration), that handler writes the line straight from the fields: making the LogRecord
    and passing it through logging was most of a request line's cost, itself the largest part of
    what a cached read costs over a trivial view (README, "Benchmark"). Whatever else is
    configured (a filter, another handler, pytest's capture) gets a LogRecord as usual.
    """
    if not logger.isEnabledFor(level):
        return
    handler = _sole_json_handler(logger, level)
    if handler is None:
        logger.log(level, message, extra=dict(extra))
    else:
        handler.emit_fields(level, logger.name, message, extra)


def _sole_json_handler(logger: logging.Logger, level: int) -> JsonLineHandler | None:
    """The one handler a record of ``logger`` at ``level`` would reach, if that is a plain
    JsonLineHandler with our formatter and nothing on the way could filter the record."""
    if logger.filters:
        return None
    found: JsonLineHandler | None = None
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            if level < handler.level:
                continue  # Logger.callHandlers skips it too
            if (
                found is not None
                or type(handler) is not JsonLineHandler
                or type(handler.formatter) is not JsonLineFormatter
                or handler.filters
            ):
                return None
            found = handler
        current = current.parent if current.propagate else None
    return found


_QUEUEING_HANDLERS: weakref.WeakSet[JsonLineHandler] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for handler in list(_QUEUEING_HANDLERS):
        handler._after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _file_descriptor(stream: Any) -> int | None:
    """The stream's descriptor, its Python buffer flushed first; None for an in-memory stream
    (pytest's capture, a StringIO), which is written through the stream itself."""
    try:
        descriptor = int(stream.fileno())
        stream.flush()
    except (AttributeError, OSError, ValueError):
        return None
    return descriptor


def json_stderr_handler() -> logging.Handler:
    handler = JsonLineHandler(sys.stderr)
    setattr(handler, _HANDLER_MARKER, True)
    return handler


def configure_logging(level: str) -> None:
    """Called by the app factory; under gunicorn the handler is already there (logconfig_dict)."""
    root = logging.getLogger()
    root.setLevel(level)
    if not any(getattr(handler, _HANDLER_MARKER, False) for handler in root.handlers):
        root.addHandler(json_stderr_handler())


def skip_unlogged_record_fields() -> None:
    """Stop the logging module from filling in what no line of ours carries: the caller's file,
    line and function (a walk up the stack for every record), and the thread, process and
    multiprocessing names (the Logging HOWTO's "Optimization" section names these switches).
    Process-wide, so the server calls it (gunicorn_config.py), not the app factory."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


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
