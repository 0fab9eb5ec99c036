"""A stack deployed before the tiers became components moves under them without a replacement.

Commit b509f8d declared every resource but the services' images and containers at the stack's
root. This evaluates that commit's program and today's under the same mocks (stackplan, as
`python -m scripts.plan` does): every resource of the old stack must be found by the engine in the
new one, under its new URN or through an alias, so `pulumi up` moves it instead of deleting and
recreating it (infra/moves.py). Volumes first: a replaced volume is lost data.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from stackplan.checkout import worktree
from stackplan.diff import Action, plan
from stackplan.evaluate import StackConfig, evaluate_tree
from stackplan.model import Resource
from tests.support.evaluation import REPOSITORY

BEFORE_COMPONENTS = "b509f8d"
VOLUME = "docker:index/volume:Volume"
CONTAINER = "docker:index/container:Container"
# The one container per service that replicas `<service>-1..n` supersede, on purpose without an
# alias: the replicas are created first and the old container is deleted at the end of the update,
# so the service never stops (FIELD-NOTES.md, "Pulumi on day two").
SUPERSEDED = {"users", "products", "orders"}
PUBLISHED = {"microstack:publishPostgres": "true", "microstack:publishRedis": "true"}


@pytest.fixture(scope="module")
def old_checkout() -> Iterator[Path]:
    if subprocess.run(
        ["git", "cat-file", "-e", f"{BEFORE_COMPONENTS}^{{commit}}"], cwd=REPOSITORY
    ).returncode:
        pytest.fail(f"commit {BEFORE_COMPONENTS} is not in this clone: fetch the full history")
    with worktree(REPOSITORY, BEFORE_COMPONENTS) as tree:
        yield tree


def custom_resources(tree: Path, values: dict[str, str]) -> list[Resource]:
    config = StackConfig("microstack", "dev", values, ("microstack:tlsCertificate",))
    return [r for r in evaluate_tree(tree, config, salt="aliases") if r.custom]


def unmatched(old: list[Resource], new: list[Resource]) -> list[str]:
    """Old URNs the engine would not find in the new program: each would be a delete + create."""
    found = {urn for resource in new for urn in (resource.urn, *resource.aliases)}
    return [resource.urn for resource in old if resource.urn not in found]


def test_volumes_keep_their_identity(old_checkout: Path) -> None:
    old = [r for r in custom_resources(old_checkout, {}) if r.type == VOLUME]
    new = {r.name: r for r in custom_resources(REPOSITORY, {}) if r.type == VOLUME}

    assert sorted(r.name for r in old) == ["postgres-data", "redis-data"]
    for volume in old:
        moved = new[volume.name]
        assert moved.urn != volume.urn, "the volume moved under its data store"
        assert volume.urn in moved.aliases


@pytest.mark.parametrize("values", [{}, PUBLISHED], ids=["defaults", "stores published"])
def test_every_old_resource_is_found_under_its_new_parent(
    old_checkout: Path, values: dict[str, str]
) -> None:
    old = custom_resources(old_checkout, values)
    new = custom_resources(REPOSITORY, values)

    assert len(old) >= 22
    assert sorted(unmatched(old, new)) == sorted(
        r.urn for r in old if r.type == CONTAINER and r.name in SUPERSEDED
    )
    # Everything moved: nothing of the old stack sits at the stack's root any more.
    assert not {r.urn for r in old} & {r.urn for r in new}


# What holds state, or what other resources are keyed on: a move must leave these untouched.
KEPT = {
    VOLUME,
    "docker:index/network:Network",
    "random:index/randomPassword:RandomPassword",
    "tls:index/privateKey:PrivateKey",
    "tls:index/selfSignedCert:SelfSignedCert",
}


def test_the_plan_from_the_old_stack_only_adds_replicas(old_checkout: Path) -> None:
    """What `python -m scripts.plan --base b509f8d` shows: every resource matched but the service
    containers that replicas supersede, and the stateful ones unchanged (images and containers may
    differ for other reasons: code and pins changed since)."""
    steps = plan(custom_resources(old_checkout, {}), custom_resources(REPOSITORY, {})).steps

    assert {s.name for s in steps if s.action is Action.DELETE} == SUPERSEDED
    created = {s.name for s in steps if s.action is Action.CREATE}
    assert created == {f"{service}-{n}" for service in SUPERSEDED for n in (1, 2)}
    assert [f"{s.action} {s.name}" for s in steps if s.type in KEPT] == []


def test_no_resource_is_found_twice() -> None:
    """Two new resources claiming one old URN would make the engine refuse the update."""
    claimed = [urn for r in custom_resources(REPOSITORY, {}) for urn in {r.urn, *r.aliases}]
    assert len(claimed) == len(set(claimed))
