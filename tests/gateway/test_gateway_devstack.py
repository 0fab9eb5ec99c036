"""The devstack command: `up` prints only where its outputs are, `down` leaves nothing behind."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from launchers.paths import REPOSITORY_ROOT
from launchers.processes import group_alive
from launchers.stack import recorded_processes
from tests.support.https import gateway_session, write_ca_file

CONTRACT_KEYS = {
    "project", "stack", "gateway_url", "gateway_http_url", "health_url", "service_urls",
    "tls_ca_certificate", "postgres", "postgres_password", "redis", "redis_password",
    "images", "service_containers", "networks", "volumes",
}  # fmt: skip


def _devstack(command: str, run_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scripts.devstack", command, "--run-dir", str(run_dir)],
        cwd=REPOSITORY_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.fixture(scope="module")
def devstack_run(
    scratch_directory: Callable[[str], Path],
) -> Iterator[tuple[Path, subprocess.CompletedProcess[str]]]:
    run_dir = scratch_directory("devstack-cli") / "run"
    up = _devstack("up", run_dir)
    yield run_dir, up
    _devstack("down", run_dir)


def test_up_prints_only_the_outputs_path(
    devstack_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    run_dir, up = devstack_run
    assert up.returncode == 0, up.stderr

    assert up.stdout.strip() == str(run_dir / "outputs.json")
    outputs = json.loads((run_dir / "outputs.json").read_text())
    for secret in (outputs["postgres_password"], outputs["redis_password"]):
        assert secret not in up.stdout + up.stderr


def test_outputs_document_has_the_contract_shape_and_is_private(
    devstack_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    path = devstack_run[0] / "outputs.json"
    outputs: dict[str, Any] = json.loads(path.read_text())

    assert set(outputs) == CONTRACT_KEYS
    assert set(outputs["service_urls"]) == {"users", "products", "orders"}
    assert outputs["health_url"] == f"{outputs['gateway_url']}/api/health"
    assert (outputs["images"], outputs["networks"], outputs["volumes"]) == ({}, {}, {})
    assert outputs["service_containers"] == {}
    assert outputs["postgres"]["user"] == "microstack_app"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_outputs_document_describes_a_working_stack(
    devstack_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    run_dir = devstack_run[0]
    outputs = json.loads((run_dir / "outputs.json").read_text())
    ca_file = write_ca_file(outputs["tls_ca_certificate"], run_dir)

    with gateway_session(ca_file) as session:
        assert session.get(outputs["health_url"]).status_code == 200


def test_status_reports_every_part_running(
    devstack_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    status = _devstack("status", devstack_run[0])

    assert status.returncode == 0
    names = [line.split()[0] for line in status.stdout.splitlines()]
    assert names == ["postgres", "redis", "users", "products", "orders", "gateway"]


def test_up_twice_is_refused_without_touching_the_running_stack(
    devstack_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    second = _devstack("up", devstack_run[0])

    assert second.returncode == 1
    assert "already" in second.stderr
    assert _devstack("status", devstack_run[0]).returncode == 0


def test_down_stops_every_process_and_removes_the_run_dir(
    devstack_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    run_dir = devstack_run[0]
    process_groups = [int(entry["pid"]) for entry in recorded_processes(run_dir)]
    assert len(process_groups) == 6

    down = _devstack("down", run_dir)

    assert down.returncode == 0
    assert not run_dir.exists()
    assert not [pgid for pgid in process_groups if group_alive(pgid)]
