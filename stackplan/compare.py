"""Plan a head tree against a base tree: evaluate both, diff, say what went wrong in one line."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from stackplan.checkout import GitError, merge_base, resolve, worktree
from stackplan.diff import Plan, plan
from stackplan.evaluate import EvaluationError, evaluate_tree, read_stack_config
from stackplan.model import Resource
from stackplan.render import Heading

DEFAULT_BASE_BRANCH = "main"


class PlanError(Exception):
    """The plan could not be made; the message is the one line to print."""


@dataclass(frozen=True)
class Request:
    repository: Path
    stack: str = "dev"
    base: str | None = None  # a git ref; None: the merge base with main
    head: str | None = None  # a git ref; None: the working tree


def compute(request: Request) -> tuple[Plan, Heading]:
    # One salt for both sides: equal secrets hash equal, and the digests mean nothing elsewhere.
    salt = secrets.token_hex(16)
    try:
        base_commit = (
            resolve(request.repository, request.base)
            if request.base
            else merge_base(request.repository, DEFAULT_BASE_BRANCH)
        )
        head_commit = resolve(request.repository, request.head) if request.head else None
        with _tree(request.repository, head_commit) as head_root:
            new = _evaluate(head_root, request.stack, salt, side="head")
        notes: list[str] = []
        with _tree(request.repository, base_commit) as base_root:
            try:
                old = _evaluate(base_root, request.stack, salt, side="base")
            except PlanError as error:
                notes.append(f"{error}; planned as if every resource were created")
                old = []
    except GitError as error:
        raise PlanError(str(error)) from None
    heading = Heading(
        stack=request.stack,
        base=f"{request.base or DEFAULT_BASE_BRANCH + ' (merge base)'} @ {base_commit[:12]}",
        head=f"{request.head} @ {head_commit[:12]}" if head_commit else "working tree",
    )
    return plan(old, new, notes=notes), heading


@contextmanager
def _tree(repository: Path, commit: str | None) -> Iterator[Path]:
    if commit is None:
        yield repository
        return
    with worktree(repository, commit) as path:
        yield path


def _evaluate(root: Path, stack: str, salt: str, *, side: str) -> list[Resource]:
    try:
        return evaluate_tree(root, read_stack_config(root, stack), salt=salt)
    except EvaluationError as error:
        what = "config error" if error.kind == "config" else "the program fails"
        raise PlanError(f"{side}: {what}: {error}") from None
