"""The services' log lines: one JSON object a line, whole under concurrent writers, on a pipe (as a
container's stderr is) or on an in-memory stream."""

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
from typing import Any

import pytest
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
    output = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(SERVICES_DIR)},
    ).stdout
    before, after = (json.loads(line) for line in output.splitlines())
    assert before.keys() == after.keys() == {"level", "logger", "message", "status", "time"}
    assert after["message"] == "after"
