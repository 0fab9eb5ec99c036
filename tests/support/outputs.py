"""Find the stack outputs document: a file, a Pulumi stack, or (as a fallback) a local devstack."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from launchers.paths import REPOSITORY_ROOT

REQUIRED_KEYS = (
    "gateway_url",
    "gateway_http_url",
    "health_url",
    "service_urls",
    "tls_ca_certificate",
)


def outputs_from_file(path: Path) -> dict[str, Any]:
    return _checked(json.loads(path.read_text()), str(path))


def outputs_from_pulumi(stack: str) -> dict[str, Any]:
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise RuntimeError(f"MICROSTACK_STACK={stack} is set but the pulumi CLI is not on PATH")
    argv = [pulumi, "stack", "output", "--json", "--show-secrets", "--stack", stack]
    result = subprocess.run(
        argv, cwd=REPOSITORY_ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        # stderr only: stdout would hold the secrets.
        raise RuntimeError(f"pulumi stack output failed for {stack}:\n{result.stderr}")
    return _checked(json.loads(result.stdout), f"stack {stack}")


@contextmanager
def devstack_outputs(run_dir: Path) -> Iterator[dict[str, Any]]:
    """Bring the local stack up with its own command, yield its outputs, always bring it down."""
    command = [sys.executable, "-m", "scripts.devstack"]
    try:
        result = subprocess.run(
            [*command, "up", "--run-dir", str(run_dir)],
            cwd=REPOSITORY_ROOT,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"devstack up failed:\n{result.stdout}\n{result.stderr}")
        yield outputs_from_file(Path(result.stdout.strip().splitlines()[-1]))
    finally:
        subprocess.run(
            [*command, "down", "--run-dir", str(run_dir)],
            cwd=REPOSITORY_ROOT,
            capture_output=True,
            timeout=180,
            check=False,
        )


def _checked(document: Any, source: str) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise RuntimeError(f"{source}: the outputs document is not a JSON object")
    missing = [key for key in REQUIRED_KEYS if key not in document]
    if missing:
        raise RuntimeError(f"{source}: outputs document lacks {', '.join(missing)}")
    return document


def selected_source() -> str:
    """Which source ``stack_outputs`` uses, for messages."""
    if os.environ.get("MICROSTACK_OUTPUTS"):
        return f"MICROSTACK_OUTPUTS={os.environ['MICROSTACK_OUTPUTS']}"
    if os.environ.get("MICROSTACK_STACK"):
        return f"MICROSTACK_STACK={os.environ['MICROSTACK_STACK']}"
    return "a local devstack started for this session"
