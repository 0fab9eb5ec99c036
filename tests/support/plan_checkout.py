"""A throwaway git repository copied from this checkout, planned with stackplan: what the plan tests
edit, commit and compare."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stackplan.compare import Request, compute
from stackplan.diff import Plan
from stackplan.render import RENDERERS, Heading

REPOSITORY = Path(__file__).resolve().parents[2]
# Recognisable fakes: no output of the plan may ever contain one (see test_no_secret_in_any_format).
FAKE_SECRETS = ("mocksecret", "PLANFAKEKEY", "PLANFAKECERT")
FAKE_TLS = {
    "microstack:tlsCertificate": "-----BEGIN CERTIFICATE-----\nPLANFAKECERT0001\n"
    "-----END CERTIFICATE-----\n",
    "microstack:tlsPrivateKey": "-----BEGIN PRIVATE KEY-----\nPLANFAKEKEY0001\n"
    "-----END PRIVATE KEY-----\n",
}


def git(root: Path, *arguments: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *arguments], check=True, capture_output=True, text=True
    ).stdout


@dataclass(frozen=True)
class Checkout:
    """A git repository holding this checkout's tracked files, `main` checked out."""

    root: Path

    def edit(self, relative: str, change: Callable[[str], str]) -> None:
        path = self.root / relative
        before = path.read_text(encoding="utf-8")
        after = change(before)
        assert after != before, f"the edit changed nothing in {relative}"
        path.write_text(after, encoding="utf-8")

    def commit(self, message: str) -> str:
        git(self.root, "add", "-A")
        git(self.root, "commit", "-q", "-m", message)
        return git(self.root, "rev-parse", "HEAD").strip()

    def plan(self, **options: str) -> tuple[Plan, Heading]:
        return compute(Request(self.root, **options))


def every_format(plan: Plan, heading: Heading) -> dict[str, str]:
    return {name: render(plan, heading) for name, render in RENDERERS.items()}
