"""The project files and the entry point, as the Pulumi CLI uses them."""

from __future__ import annotations

import re
import runpy
import sys
from typing import Any

import pulumi
import pytest
from pulumi.runtime.mocks import MockMonitor

from tests.support.pulumi_program import RecordingMocks
from tests.unit.conftest import REPOSITORY, Evaluate
from tests.unit.test_outputs import CONTRACT_KEYS


def test_project_file_points_the_python_runtime_at_infra() -> None:
    project = (REPOSITORY / "Pulumi.yaml").read_text()
    assert re.search(r"^name: microstack$", project, flags=re.MULTILINE)
    assert re.search(r"^main: infra/$", project, flags=re.MULTILINE)
    assert re.search(r"^  name: python$", project, flags=re.MULTILINE)
    assert re.search(r"^    virtualenv: venv$", project, flags=re.MULTILINE)


def test_requirements_sit_in_the_program_directory_and_are_pinned() -> None:
    # The language host runs `pip install -r requirements.txt` in the program directory (`main`).
    lines = (REPOSITORY / "infra" / "requirements.txt").read_text().split()
    assert {line.split("==")[0] for line in lines} >= {"pulumi", "pulumi-docker", "pulumi-random"}
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.]*", line) for line in lines)


def test_the_project_root_requirements_defer_to_the_program_directory() -> None:
    # Older language hosts read requirements.txt beside Pulumi.yaml instead: one list, two doors.
    lines = (REPOSITORY / "requirements.txt").read_text().splitlines()
    assert [line for line in lines if not line.startswith("#")] == ["-r infra/requirements.txt"]


def test_entry_point_runs_as_the_cli_runs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """runpy on the infra/ folder, cwd infra/, infra/ first on sys.path (pulumi-language-python)."""
    exported: dict[str, Any] = {}
    monkeypatch.setattr(pulumi, "export", lambda key, value: exported.setdefault(key, value))
    monkeypatch.chdir(REPOSITORY / "infra")
    monkeypatch.setattr(sys, "path", [".", *sys.path])
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="microstack", stack="dev")
    pulumi.runtime.set_all_config({})

    @pulumi.runtime.test
    def run_entry_point() -> None:
        runpy.run_path(".", run_name="__main__")

    run_entry_point()
    assert set(exported) == CONTRACT_KEYS
    assert len([r for r in mocks.resources if r.custom]) == 22
    # The program directory must not stay on sys.path, where `infra/redis.py` would shadow `redis`.
    assert "." not in sys.path
    assert str(REPOSITORY) == sys.path[0]


def test_service_children_are_parented_to_their_component(evaluate: Evaluate) -> None:
    evaluate()
    monitor = pulumi.runtime.settings.get_monitor()
    assert isinstance(monitor, MockMonitor)
    urns = set(monitor.get_registered_resources())
    for name in ("users", "products", "orders"):
        assert any(
            urn.endswith(f"microstack:index:Service$docker:index/image:Image::{name}-image")
            for urn in urns
        )
        assert any(
            urn.endswith(f"microstack:index:Service$docker:index/container:Container::{name}")
            for urn in urns
        )
    # The base all three are built on belongs to none of them: a child of the stack.
    assert any(
        urn.endswith("pulumi:pulumi:Stack$docker:index/image:Image::servicekit-image")
        for urn in urns
    )
