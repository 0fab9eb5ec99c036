"""Git: resolve refs and check a commit out into a temporary worktree, removed afterwards."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class GitError(Exception):
    pass


def git(repository: Path, *arguments: str) -> str:
    completed = subprocess.run(
        ["git", "-C", str(repository), *arguments],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        detail = (completed.stderr.strip().splitlines() or ["git failed"])[-1]
        raise GitError(detail)
    return completed.stdout.strip()


def repository_root(path: Path) -> Path:
    try:
        return Path(git(path, "rev-parse", "--show-toplevel"))
    except GitError:
        raise GitError(f"{path} is not inside a git repository") from None


def resolve(repository: Path, ref: str) -> str:
    """The commit a ref names; a GitError naming the ref when there is none."""
    try:
        return git(repository, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except GitError:
        raise GitError(f"unknown git ref {ref!r}") from None


def merge_base(repository: Path, ref: str, other: str = "HEAD") -> str:
    resolve(repository, ref)
    try:
        return git(repository, "merge-base", ref, other)
    except GitError:
        raise GitError(f"{ref!r} and {other} have no common ancestor") from None


@contextmanager
def worktree(repository: Path, commit: str) -> Iterator[Path]:
    """`commit` checked out (detached) in a temporary directory, for as long as the block runs."""
    with tempfile.TemporaryDirectory(prefix="stackplan-tree-") as scratch:
        path = Path(scratch) / "tree"
        git(repository, "worktree", "add", "--detach", "--quiet", str(path), commit)
        try:
            yield path
        finally:
            git(repository, "worktree", "remove", "--force", str(path))
