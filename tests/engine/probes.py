"""Bounded probes the engine tests share: gateway health, and commands inside containers."""

from __future__ import annotations

from typing import Any

import requests
from docker.models.containers import Container

from launchers.polling import poll_until

GATEWAY_RECOVERY_SECONDS = 90


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


def can_connect(container: Container, host: str, port: int) -> bool:
    """Whether `container` opens a TCP connection to host:port within 3 s (bash's /dev/tcp)."""
    script = f"exec 3<>/dev/tcp/{host}/{port}"
    exit_code, _ = run_in(container, "timeout", "3", "bash", "-c", script)
    return exit_code == 0
