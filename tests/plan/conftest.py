"""Fixtures for the plan's tests: a throwaway git repository made from this checkout."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.plan_checkout import REPOSITORY, Checkout, git


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository made once per session; each test gets a copy (a copy is milliseconds)."""
    root = tmp_path_factory.mktemp("template") / "repository"
    tracked = git(REPOSITORY, "ls-files", "-z").split("\0")
    for relative in filter(None, tracked):
        source = REPOSITORY / relative
        if source.is_file():
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / relative)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "plan-tests@example.invalid")
    git(root, "config", "user.name", "plan tests")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    return root


@pytest.fixture
def checkout(template: Path, tmp_path: Path) -> Checkout:
    root = tmp_path / "repository"
    shutil.copytree(template, root, symlinks=True)
    return Checkout(root)
