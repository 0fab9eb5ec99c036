"""The services' log lines: one JSON object a line, whole under concurrent writers, on a pipe (as a
container's stderr is) or on an in-memory stream; queued lines keep their order, are all written
at exit, and are never written twice by a forked child."""

from __future__ import annotations

import io
import json
import logging
import os
import select
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from servicekit import json_logging
from servicekit.json_logging import JsonLineHandler

from launchers.paths import SERVICES_DIR

THREADS = 8
LINES_PER_THREAD = 300


@pytest.fixture
def pipe() -> Iterator[tuple[Any, Any]]:
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "rb") as reader, os.fdopen(write_end, "w") as writer:
        yield reader, writer


def logger_with(handler: logging.Handler, name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def python_output(script: str, **environment: str) -> str:
    """What a new interpreter prints running ``script``, the services' packages importable."""
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(SERVICES_DIR), **environment},
    ).stdout


def read_lines(reader: Any, count: int) -> list[dict[str, Any]]:
    """`count` lines from the pipe, each parsed (a torn or merged line fails to parse)."""
    lines = [reader.readline() for _ in range(count)]
    return [json.loads(line) for line in lines]


def drain_concurrently(reader: Any, count: int) -> tuple[threading.Thread, list[dict[str, Any]]]:
    # A pipe holds 64 KiB: the reader runs while the writers write, or they would block.
    lines: list[dict[str, Any]] = []
    thread = threading.Thread(target=lambda: lines.extend(read_lines(reader, count)))
    thread.start()
    return thread, lines


def test_lines_from_many_threads_arrive_whole_on_a_pipe(pipe: tuple[Any, Any]) -> None:
    reader, writer = pipe
    logger = logger_with(JsonLineHandler(writer), "test.json_logging.threads")
    reading, lines = drain_concurrently(reader, THREADS * LINES_PER_THREAD)

    def log(thread: int) -> None:
        for number in range(LINES_PER_THREAD):
            logger.info("request", extra={"writer": thread, "number": number, "pad": "x" * 200})

    writers = [threading.Thread(target=log, args=(thread,)) for thread in range(THREADS)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    reading.join(timeout=30)

    assert len(lines) == THREADS * LINES_PER_THREAD
    seen = {(line["writer"], line["number"]) for line in lines}
    assert len(seen) == THREADS * LINES_PER_THREAD
    assert {line["message"] for line in lines} == {"request"}


def test_a_line_longer_than_pipe_buf_arrives_whole(pipe: tuple[Any, Any]) -> None:
    reader, writer = pipe
    logger = logger_with(JsonLineHandler(writer), "test.json_logging.long")
    reading, lines = drain_concurrently(reader, 2)
    long_message = "y" * (4 * select.PIPE_BUF)

    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception(long_message)
    logger.info("after")
    reading.join(timeout=30)

    assert lines[0]["message"] == long_message
    assert "ValueError: boom" in lines[0]["exc_info"]
    assert lines[1]["message"] == "after"


def test_a_line_has_the_record_fields_and_its_extras() -> None:
    stream = io.StringIO()  # no file descriptor: written through the stream
    logger = logger_with(JsonLineHandler(stream), "test.json_logging.shape")

    logger.warning("stock low for %s", "Laptop", extra={"product_id": 7, "left": 2})

    (line,) = stream.getvalue().splitlines()
    document = json.loads(line)
    assert document.pop("time").endswith("+00:00")
    assert document == {
        "level": "WARNING",
        "logger": "test.json_logging.shape",
        "message": "stock low for Laptop",
        "product_id": 7,
        "left": 2,
    }


def test_a_filtered_record_writes_nothing() -> None:
    stream = io.StringIO()
    handler = JsonLineHandler(stream)
    handler.addFilter(lambda record: record.getMessage() != "secret")
    logger = logger_with(handler, "test.json_logging.filter")

    logger.info("secret")
    logger.info("public")

    assert [json.loads(line)["message"] for line in stream.getvalue().splitlines()] == ["public"]


def test_a_warning_is_written_at_once_after_the_lines_queued_before_it(
    pipe: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    reader, writer = pipe
    # The writer thread waits an hour: only the warning can have written the queued lines.
    monkeypatch.setattr(json_logging, "FLUSH_INTERVAL_SECONDS", 3600)
    logger = logger_with(JsonLineHandler(writer), "test.json_logging.order")

    logger.info("first")
    logger.info("second")
    assert not select.select([reader], [], [], 0)[0], "info lines wait in the queue"
    logger.warning("third")

    assert [line["message"] for line in read_lines(reader, 3)] == ["first", "second", "third"]


def test_a_full_queue_makes_the_logging_thread_write(
    pipe: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader that falls behind slows the writers down instead of filling memory."""
    reader, writer = pipe
    monkeypatch.setattr(json_logging, "FLUSH_INTERVAL_SECONDS", 3600)
    monkeypatch.setattr(json_logging, "MAX_PENDING_LINES", 2)
    logger = logger_with(JsonLineHandler(writer), "test.json_logging.bounded")

    for number in range(3):
        logger.info("line", extra={"number": number})

    assert [line["number"] for line in read_lines(reader, 3)] == [0, 1, 2]


def run_script(script: str) -> list[dict[str, Any]]:
    output = python_output(script)
    return [json.loads(line) for line in output.splitlines()]


def test_every_queued_line_is_written_at_exit() -> None:
    lines = run_script(
        "import logging, sys\n"
        "from servicekit.json_logging import JsonLineHandler\n"
        "logger = logging.getLogger('exit')\n"
        "logger.addHandler(JsonLineHandler(sys.stdout))\n"
        "logger.setLevel(logging.INFO)\n"
        "for number in range(2000):\n"
        "    logger.info('line', extra={'number': number})\n"
    )
    assert [line["number"] for line in lines] == list(range(2000))


def test_a_forked_child_writes_its_own_lines_and_never_the_parents() -> None:
    """gunicorn forks its workers from a master that logs through the same handler."""
    lines = run_script(
        "import logging, os, sys\n"
        "from servicekit import json_logging\n"
        "json_logging.FLUSH_INTERVAL_SECONDS = 3600\n"
        "logger = logging.getLogger('fork')\n"
        "logger.addHandler(json_logging.JsonLineHandler(sys.stdout))\n"
        "logger.setLevel(logging.INFO)\n"
        "logger.info('queued in the parent before the fork')\n"
        "child = os.fork()\n"
        "if child == 0:\n"
        "    logger.info('from the child')\n"
        "    logging.shutdown()\n"
        "    os._exit(0)\n"
        "os.waitpid(child, 0)\n"
        "logger.info('from the parent after the fork')\n"
    )
    assert sorted(line["message"] for line in lines) == [
        "from the child",
        "from the parent after the fork",
        "queued in the parent before the fork",
    ]


def test_skipping_the_unlogged_record_fields_leaves_the_line_as_it_was() -> None:
    """gunicorn_config turns off the caller, thread and process look-ups: no line carried them."""
    script = (
        "import logging, sys\n"
        "from servicekit.json_logging import JsonLineHandler, skip_unlogged_record_fields\n"
        "logger = logging.getLogger('shape')\n"
        "logger.addHandler(JsonLineHandler(sys.stdout))\n"
        "logger.warning('before', extra={'status': 200})\n"
        "skip_unlogged_record_fields()\n"
        "logger.warning('after', extra={'status': 200})\n"
    )
    output = python_output(script)
    before, after = (json.loads(line) for line in output.splitlines())
    assert before.keys() == after.keys() == {"level", "logger", "message", "status", "time"}
    assert after["message"] == "after"


def test_gunicorn_builds_no_access_line_and_the_request_line_needs_no_record() -> None:
    """With our logconfig_dict, gunicorn's own Logger would compute every access line's fields."""
    script = (
        "from unittest import mock\n"
        "from gunicorn.app.base import Application\n"
        "class App(Application):\n"
        "    def init(self, parser, opts, args): pass\n"
        "    def load(self): pass\n"
        "app = App()\n"
        "app.load_config_from_module_name_or_filename('python:servicekit.gunicorn_config')\n"
        "log = app.cfg.logger_class(app.cfg)\n"
        "with mock.patch.object(log, 'atoms', side_effect=AssertionError('atoms built')):\n"
        "    log.access(None, None, {}, None)\n"
        "print(type(log).__name__, app.cfg.logconfig_dict is not None)\n"
        # As gunicorn configures logging: the request line takes log_fields' record-free path.
        "import logging, logging.config\n"
        "from servicekit.json_logging import _sole_json_handler\n"
        "logging.config.dictConfig(app.cfg.logconfig_dict)\n"
        "request_logger = logging.getLogger('servicekit.request')\n"
        "print(_sole_json_handler(request_logger, logging.INFO) is not None)\n"
    )
    output = python_output(script, SERVICE_PORT="8000")
    assert output.split() == ["NoAccessLogLogger", "True", "True"]


def _fail_on_any_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
    raise AssertionError("a LogRecord was made")


def test_log_fields_writes_the_line_a_record_would_without_making_one(
    pipe: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    reader, writer = pipe
    handler = JsonLineHandler(writer)
    logger = logger_with(handler, "test.json_logging.fields")
    extra = {"request_id": "r-1", "status": 200, "duration_ms": 1.5, "path": "/api/v1/x"}
    logger.info("request", extra=extra)
    with monkeypatch.context() as patched:
        patched.setattr(logging, "getLogRecordFactory", lambda: _fail_on_any_record)
        patched.setattr(logging, "_logRecordFactory", _fail_on_any_record)
        json_logging.log_fields(logger, logging.INFO, "request", extra)
    handler.flush()
    by_record, by_fields = read_lines(reader, 2)
    assert list(by_fields) == list(by_record)  # the same keys in the same order
    assert {**by_fields, "time": None} == {**by_record, "time": None}
    assert by_fields["level"] == "INFO" and by_fields["logger"] == "test.json_logging.fields"
    for line in (by_record, by_fields):  # ISO 8601 in UTC, as isoformat() writes it
        assert datetime.fromisoformat(line["time"]).utcoffset() == timedelta(0)


def test_log_fields_takes_the_record_path_when_anything_else_may_see_the_line(
    pipe: tuple[Any, Any],
) -> None:
    reader, writer = pipe
    handler = JsonLineHandler(writer)
    logger = logger_with(handler, "test.json_logging.fields_other")
    seen: list[logging.LogRecord] = []
    other = logging.Handler()
    other.emit = seen.append  # type: ignore[method-assign]
    logger.addHandler(other)
    json_logging.log_fields(logger, logging.INFO, "request", {"status": 201})
    assert [(record.getMessage(), record.status) for record in seen] == [("request", 201)]  # type: ignore[attr-defined]
    logger.removeHandler(other)

    logger.addFilter(lambda record: False)  # a filter on the logger (the warm-up's)
    json_logging.log_fields(logger, logging.INFO, "request", {"status": 202})
    logger.filters.clear()
    logger.setLevel(logging.WARNING)
    json_logging.log_fields(logger, logging.INFO, "request", {"status": 203})
    json_logging.log_fields(logger, logging.WARNING, "last", {"status": 204})
    handler.flush()
    lines = read_lines(reader, 2)  # 202 filtered, 203 below the level
    assert [(line["message"], line["status"]) for line in lines] == [
        ("request", 201),
        ("last", 204),
    ]
