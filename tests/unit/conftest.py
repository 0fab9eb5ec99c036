"""Fixtures for the Pulumi program's mock tests: evaluate the real program, record its resources."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.evaluation import REPOSITORY, Evaluate, Evaluation, evaluate_program


@pytest.fixture
def evaluate() -> Evaluate:
    return evaluate_program


@pytest.fixture(scope="module")
def default_evaluation() -> Evaluation:
    """The dev stack with every default, evaluated once per module (an evaluation takes ~0.3 s)."""
    return evaluate_program()


@pytest.fixture
def source_copy(tmp_path: Path) -> Iterator[Path]:
    """A copy of the files the program reads, so a test can change one service's code safely."""
    root = tmp_path / "checkout"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    for folder in ("services", "nginx", "database"):
        shutil.copytree(REPOSITORY / folder, root / folder, ignore=ignore)
    yield root
