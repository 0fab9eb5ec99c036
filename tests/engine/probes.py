"""Bounded probes the engine tests share: gateway health, commands inside containers, a Swarm
service's running tasks, and the integration suite (tests/e2e) run against a stack's outputs
document."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests
from docker.models.containers import Container

from launchers.polling import poll_until
from tests.engine.engine import DockerEngine

GATEWAY_RECOVERY_SECONDS = 90
APPLICATIONS = ("users", "products", "orders")
E2E_TIMEOUT_SECONDS = 600
REPOSITORY = Path(__file__).resolve().parents[2]


def gateway_health(session: requests.Session, health_url: str) -> tuple[int, dict[str, Any]]:
    try:
        response = session.get(health_url, timeout=5)
    except requests.RequestException as error:
        return 0, {"error": str(error)}
    return response.status_code, response.json()


def wait_for_gateway_health(
    session: requests.Session,
    health_url: str,
    expected: int = 200,
    timeout: float = GATEWAY_RECOVERY_SECONDS,
) -> dict[str, Any]:
    """Poll the aggregated health until it answers `expected`; fail with the last answer."""
    _, body = poll_until(
        lambda: gateway_health(session, health_url),
        lambda answer: answer[0] == expected,
        timeout=timeout,
        interval=1,
        message=lambda answer: f"gateway health stayed {answer[0]} for {timeout:.0f}s: {answer[1]}",
    )
    return body


def run_in(container: Container, *command: str) -> tuple[int, str]:
    """Run a command in a container; (exit code, combined output)."""
    result = container.exec_run(list(command), demux=False)
    return result.exit_code, (result.output or b"").decode(errors="replace")


def query_row(postgres: Container, sql: str) -> list[str]:
    """One row of `sql`, read in PostgreSQL itself as the superuser (no cache can answer for it)."""
    exit_code, output = run_in(
        postgres,
        *("psql", "--username=postgres", "--dbname=microstack", "--tuples-only", "--no-align"),
        f"--command={sql}",
    )
    assert exit_code == 0, output
    return output.strip().split("|")


def create_user(session: requests.Session, users_url: str, prefix: str) -> dict[str, Any]:
    """A new user through the gateway, under a name no earlier run used."""
    username = f"{prefix}_{secrets.token_hex(5)}"
    response = session.post(
        users_url, json={"username": username, "email": f"{username}@example.com"}, timeout=10
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def can_connect(container: Container, host: str, port: int) -> bool:
    """Whether `container` opens a TCP connection to host:port within 3 s (bash's /dev/tcp)."""
    script = f"exec 3<>/dev/tcp/{host}/{port}"
    exit_code, _ = run_in(container, "timeout", "3", "bash", "-c", script)
    return exit_code == 0


def run_integration_suite(outputs_document: Path) -> tuple[bool, str]:
    """tests/e2e, unchanged, in a subprocess against `outputs_document`: (passed, report).

    Passing means at least one test passed and none failed or was skipped: a suite that skipped
    its way to green proved nothing about the stack.
    """
    environment = {key: value for key, value in os.environ.items() if key != "MICROSTACK_STACK"}
    environment["MICROSTACK_OUTPUTS"] = str(outputs_document)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/e2e", "-q", "-p", "no:cacheprovider"],
        cwd=REPOSITORY,
        env=environment,
        capture_output=True,
        text=True,
        timeout=E2E_TIMEOUT_SECONDS,
        check=False,
    )
    report = result.stdout + result.stderr
    passed = result.returncode == 0 and " passed" in report and " skipped" not in report
    return passed, report


def running_tasks(engine: DockerEngine, logical: str) -> list[dict[str, Any]]:
    """The tasks of the stack's Swarm service `logical` that should run and do."""
    tasks = engine.client.api.tasks(
        filters={"service": engine.scope.name(logical), "desired-state": "running"}
    )
    return [task for task in tasks if task["Status"]["State"] == "running"]
