"""A stack deployed before the tiers became components moves under them without a replacement.

Commit b509f8d declared every resource but the services' images and containers at the stack's
root. This evaluates that commit's program and today's under the same mocks: every resource of the
old stack must be found by the engine in the new one, under its new URN or through an alias, so
`pulumi up` moves it instead of deleting and recreating it (infra/moves.py). Volumes first: a
replaced volume is lost data.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.pulumi_program import Placement, RecordingMocks, run_program
from tests.unit.conftest import REPOSITORY

BEFORE_COMPONENTS = "b509f8d"
VOLUME = "docker:index/volume:Volume"


@pytest.fixture(scope="module")
def old_checkout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The tree of the commit before the components, as `git archive` gives it."""
    if subprocess.run(
        ["git", "cat-file", "-e", f"{BEFORE_COMPONENTS}^{{commit}}"], cwd=REPOSITORY
    ).returncode:
        pytest.fail(f"commit {BEFORE_COMPONENTS} is not in this clone: fetch the full history")
    root = tmp_path_factory.mktemp("before-components")
    archive = subprocess.run(
        ["git", "archive", BEFORE_COMPONENTS], cwd=REPOSITORY, capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive.stdout, check=True)
    yield root


def old_resources(checkout: Path, config: dict[str, Any]) -> list[dict[str, Any]]:
    result = subprocess.run(
        [
            sys.executable,
            str(REPOSITORY / "tests/support/checkout_urns.py"),
            str(checkout),
            json.dumps(config),
        ],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return [r for r in json.loads(result.stdout) if r["custom"]]


def new_placements(config: dict[str, Any]) -> dict[tuple[str, str], Placement]:
    mocks = RecordingMocks()
    run_program(mocks, config)
    return {key: mocks.placements[key] for key in mocks.placements if _custom(mocks, key)}


def _custom(mocks: RecordingMocks, key: tuple[str, str]) -> bool:
    return any(r.custom and (r.type, r.name) == key for r in mocks.resources)


def unmatched(old: list[dict[str, Any]], new: dict[tuple[str, str], Placement]) -> list[str]:
    """Old URNs the engine would not find in the new program: each would be a delete + create."""
    missing = []
    for resource in old:
        placement = new.get((resource["type"], resource["name"]))
        if placement is None or resource["urn"] not in {placement.urn, *placement.aliases}:
            missing.append(resource["urn"])
    return missing


def test_volumes_keep_their_identity(old_checkout: Path) -> None:
    old = [r for r in old_resources(old_checkout, {}) if r["type"] == VOLUME]
    new = new_placements({})

    assert sorted(r["name"] for r in old) == ["postgres-data", "redis-data"]
    assert unmatched(old, new) == []
    for resource in old:
        placement = new[(VOLUME, resource["name"])]
        assert placement.urn != resource["urn"], "the volume did move under its data store"
        assert resource["urn"] in placement.aliases


@pytest.mark.parametrize("config", [{}, {"publishPostgres": True, "publishRedis": True}])
def test_every_old_resource_is_found_under_its_new_parent(
    old_checkout: Path, config: dict[str, Any]
) -> None:
    old = old_resources(old_checkout, config)
    new = new_placements(config)

    assert len(old) >= 22
    assert unmatched(old, new) == []
    moved = [r for r in old if r["urn"] != new[(r["type"], r["name"])].urn]
    # Everything moved: nothing of the old stack sits at the root any more.
    assert len(moved) == len(old)


def test_no_resource_is_found_twice(old_checkout: Path) -> None:
    """Two new resources claiming one old URN would make the engine refuse the update."""
    new = new_placements({})
    claimed = [urn for p in new.values() for urn in {p.urn, *p.aliases}]
    assert len(claimed) == len(set(claimed))
    assert old_checkout.is_dir()
