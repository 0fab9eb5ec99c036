"""The project files and the entry point, as the Pulumi CLI uses them."""

from __future__ import annotations

import re
import runpy
import sys
from typing import Any

import pulumi
import pytest

from stackplan.evaluate import evaluate_tree, read_stack_config
from stackplan.model import Resource
from tests.support.evaluation import REPOSITORY
from tests.support.pulumi_program import RecordingMocks
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
    assert len([r for r in mocks.resources if r.custom]) == 25
    # The program directory must not stay on sys.path, where `infra/redis.py` would shadow `redis`.
    assert "." not in sys.path
    assert str(REPOSITORY) == sys.path[0]


# One node per tier under the stack, as in the README's diagram.
TIERS = {
    ("microstack:index:Networks", "networks"),
    ("microstack:index:Credentials", "credentials"),
    ("microstack:index:DataStore", "postgres"),
    ("microstack:index:DataStore", "redis"),
    ("microstack:index:Services", "services"),
    ("microstack:index:Gateway", "gateway"),
}


@pytest.fixture(scope="module")
def tree() -> list[Resource]:
    """The dev stack's resources with their engine URNs and parents (stackplan's evaluation)."""
    return evaluate_tree(REPOSITORY, read_stack_config(REPOSITORY, "dev"), salt="tree")


def children(tree: list[Resource], parent_type: str, parent_name: str) -> set[str]:
    (parent,) = [r.urn for r in tree if (r.type, r.name) == (parent_type, parent_name)]
    return {r.name for r in tree if r.parent == parent}


def test_the_stack_has_one_child_per_tier(tree: list[Resource]) -> None:
    stack = "urn:pulumi:dev::microstack::pulumi:pulumi:Stack::microstack-dev"

    assert {(r.type, r.name) for r in tree if r.parent == stack} == TIERS
    # Every Docker, random and TLS resource belongs to a tier: none hangs off the stack itself.
    assert [r.name for r in tree if r.custom and r.parent == stack] == []


def test_each_tier_holds_its_own_resources(tree: list[Resource]) -> None:
    assert children(tree, "microstack:index:DataStore", "postgres") == {
        "postgres-image",
        "postgres-data",
        "postgres",
    }
    assert children(tree, "microstack:index:Services", "services") == {
        "servicekit-image",
        "users",
        "products",
        "orders",
    }
    assert children(tree, "microstack:index:Service", "users") == {
        "users-image",
        "users-1",
        "users-2",
    }
    assert children(tree, "microstack:index:Gateway", "gateway") == {
        "gateway-tls-key",
        "gateway-tls-certificate",
        "nginx-image",
        "gateway",
    }
    assert children(tree, "microstack:index:Networks", "networks") == {
        "frontend-network",
        "backend-network",
    }
