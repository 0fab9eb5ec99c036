"""A missing server binary fails the run in CI and skips (with the reason) everywhere else."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import pytest

from launchers.processes import MissingBinaryError


def running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def missing_binary(error: MissingBinaryError) -> NoReturn:
    reason = f"{error} (.ci/run installs it)"
    if running_in_ci():
        pytest.fail(f"CI must not skip: {reason}", pytrace=False)
    pytest.skip(reason)


@contextmanager
def binaries_required() -> Iterator[None]:
    """Wrap a server start: turns MissingBinaryError into the CI-aware fail/skip."""
    try:
        yield
    except MissingBinaryError as error:
        missing_binary(error)
