"""The engine harness's model of `pulumi up` on a running stack (tests/engine/steps.py), without
Docker. Each test names the documented behaviour it reproduces.

Sources: Pulumi's "How Pulumi works" (resources are created, updated or replaced as the provider's
diff says; resources no longer in the program are deleted at the end; steps follow dependencies),
the `aliases` and `deleteBeforeReplace` resource options, and pulumi-docker's
`provider/resources.go` (`docker_container`: `DeleteBeforeReplace: true`).
"""

from __future__ import annotations

import stat
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi

from stackplan.diff import Action
from stackplan.model import Resource, make_urn
from tests.engine.steps import DayTwo, Decision, StackState, StateEntry
from tests.support.pulumi_program import RecordingMocks, run_program

CONTAINER = "docker:index/container:Container"
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
PASSWORD = "random:index/randomPassword:RandomPassword"


def resource(
    name: str,
    resource_type: str = CONTAINER,
    inputs: Mapping[str, Any] | None = None,
    *,
    parent: str | None = None,
    aliases: tuple[str, ...] = (),
) -> Resource:
    return Resource(
        urn=make_urn("ci", "microstack", parent, resource_type, name),
        type=resource_type,
        name=name,
        custom=True,
        parent=parent,
        aliases=aliases,
        inputs=dict(inputs or {"image": "sha256:1", "memory": 256}),
    )


def deployed(*resources: Resource, outputs: Mapping[str, Any] | None = None) -> StackState:
    entries = tuple(StateEntry(r, f"{r.name}-id", dict(outputs or {})) for r in resources)
    return StackState(salt="salt", entries=entries)


def apply(day_two: DayTwo, *resources: Resource) -> list[Decision]:
    """Register `resources` in order, as the program would, each one done before the next."""
    decisions = []
    for declared in resources:
        decision = day_two.decide(declared)
        if decision.deletes_first:
            day_two.deleted_first(decision)
        day_two.record(declared, decision, f"{declared.name}-new-id", {})
        decisions.append(decision)
    for leftover in day_two.deletions():
        day_two.deleted(leftover)
    return decisions


def test_an_unchanged_resource_takes_no_step_and_keeps_its_id_and_outputs() -> None:
    # Pulumi: a resource whose inputs did not change is a "same" step; nothing is called.
    users = resource("users-1")
    day_two = DayTwo(deployed(users, outputs={"name": "microstack-ci-users-1"}))

    decision = day_two.decide(users)

    assert decision.step is None
    assert decision.previous is not None
    assert (decision.previous.id, decision.previous.outputs) == (
        "users-1-id",
        {"name": "microstack-ci-users-1"},
    )
    day_two.record(users, decision, "users-1-id", {})
    assert day_two.deletions() == []
    assert not day_two.summary().changed


def test_a_generated_password_is_reused_while_its_inputs_stay_the_same() -> None:
    # pulumi-random: `result` is computed once, at create; the state keeps it across updates.
    password = resource("postgres-app-password", PASSWORD, {"length": 40, "special": False})
    day_two = DayTwo(deployed(password, outputs={"result": "kept-secret"}))

    decision = day_two.decide(password)

    assert decision.step is None
    assert decision.previous is not None and decision.previous.outputs["result"] == "kept-secret"


def test_a_changed_container_image_is_replaced_deleting_the_old_container_first() -> None:
    # pulumi-docker provider/resources.go: docker_container DeleteBeforeReplace: true; `image` is
    # ForceNew in the Terraform schema.
    day_two = DayTwo(deployed(resource("users-1")))

    (decision,) = apply(day_two, resource("users-1", inputs={"image": "sha256:2", "memory": 256}))

    assert decision.step is not None and decision.step.action is Action.REPLACE
    assert decision.deletes_first
    assert day_two.summary().names(Action.REPLACE) == ["users-1"]
    assert [entry.id for entry in day_two.state().entries] == ["users-1-new-id"]


def test_a_memory_change_updates_the_container_in_place() -> None:
    # terraform-provider-docker resourceDockerContainerUpdate applies `memory` (docker update).
    day_two = DayTwo(deployed(resource("gateway")))

    (decision,) = apply(day_two, resource("gateway", inputs={"image": "sha256:1", "memory": 160}))

    assert decision.step is not None and decision.step.action is Action.UPDATE
    assert not decision.deletes_first
    assert day_two.summary().names(Action.UPDATE) == ["gateway"]


def test_a_resource_that_left_the_program_is_deleted_after_every_create() -> None:
    # Pulumi deletes resources no longer declared at the end of the update, after the creates:
    # a replica renamed without an alias is a create of the new one, then a delete of the old.
    day_two = DayTwo(deployed(resource("users")))

    apply(day_two, resource("users-1"), resource("users-2"))

    steps = [(step.action, step.name) for step in day_two.summary().steps]
    assert steps == [
        (Action.CREATE, "users-1"),
        (Action.CREATE, "users-2"),
        (Action.DELETE, "users"),
    ]


def test_deletes_at_the_end_go_dependants_first() -> None:
    # Pulumi deletes in reverse dependency order; the previous run registered dependencies first.
    network, volume, container = (
        resource("backend-network", "docker:index/network:Network", {"name": "b"}),
        resource("postgres-data", "docker:index/volume:Volume", {"name": "d"}),
        resource("postgres"),
    )
    day_two = DayTwo(deployed(network, volume, container))

    assert [entry.resource.name for entry in day_two.deletions()] == [
        "postgres",
        "postgres-data",
        "backend-network",
    ]


def test_a_create_before_delete_replacement_deletes_the_old_one_at_the_end() -> None:
    # Pulumi's default replacement creates the new resource first and deletes the old one later;
    # RemoteImage `name` is ForceNew and the type has no DeleteBeforeReplace.
    old = resource("postgres-image", REMOTE_IMAGE, {"name": "postgres:15", "keepLocally": True})
    new = resource("postgres-image", REMOTE_IMAGE, {"name": "postgres:15b", "keepLocally": True})
    day_two = DayTwo(deployed(old))

    decision = day_two.decide(new)
    assert decision.step is not None and decision.step.action is Action.REPLACE
    assert not decision.deletes_first
    day_two.record(new, decision, "new-id", {})
    assert [entry.id for entry in day_two.deletions()] == ["postgres-image-id"]
    for entry in day_two.deletions():
        day_two.deleted(entry)
    # The old half belongs to the replace step: no separate delete in the summary.
    assert [(s.action, s.name) for s in day_two.summary().steps] == [
        (Action.REPLACE, "postgres-image")
    ]


def test_a_resource_moved_with_an_alias_is_the_same_resource() -> None:
    # Pulumi `aliases`: a resource whose alias is an old URN is that resource, not a new one
    # (infra/moves.py moved the tiers under components this way).
    at_root = resource("postgres-data", "docker:index/volume:Volume", {"name": "d"})
    parent = make_urn("ci", "microstack", None, "microstack:index:DataStore", "postgres")
    moved = resource(
        "postgres-data",
        "docker:index/volume:Volume",
        {"name": "d"},
        parent=parent,
        aliases=(at_root.urn,),
    )
    day_two = DayTwo(deployed(at_root))

    (decision,) = apply(day_two, moved)

    assert decision.step is None
    assert day_two.deletions() == []
    assert [entry.resource.urn for entry in day_two.state().entries] == [moved.urn]


def test_after_a_failure_the_state_keeps_what_was_not_yet_superseded() -> None:
    # Pulumi saves state per step: a failed update leaves the untouched resources in the state.
    first, second = resource("users-1"), resource("users-2")
    day_two = DayTwo(deployed(first, second))

    day_two.record(first, day_two.decide(first), "users-1-id", {})  # then the run fails

    assert [e.resource.name for e in day_two.state().entries] == ["users-1", "users-2"]


def test_the_state_round_trips_and_only_its_owner_can_read_it(tmp_path: Path) -> None:
    state = deployed(resource("users-1"), outputs={"result": "a-secret"})
    path = tmp_path / "state.json"

    state.save(path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert StackState.load(path) == state
    assert StackState.load(tmp_path / "absent.json") is None


class TimingMocks(RecordingMocks):
    """Records when each registration starts and ends; each takes a while, like a real create."""

    def __init__(self) -> None:
        super().__init__()
        self.spans: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        started = time.monotonic()
        if args.custom and args.typ == CONTAINER:
            time.sleep(0.05)
        answer = super().new_resource(args)
        with self._lock:
            self.spans[args.name] = (started, time.monotonic())
        return answer


def test_the_program_registers_a_resource_only_after_those_it_depends_on_are_done() -> None:
    # The SDK awaits `depends_on` and input dependencies before RegisterResource, and the mocks'
    # `new_resource` returns only once the object exists (as the engine's RegisterResource
    # does): so the harness applies steps in dependency order, replica after replica.
    mocks = TimingMocks()
    run_program(mocks, {"serviceReplicas": 2}, stack="ci")
    spans = mocks.spans

    def after(later: str, earlier: str) -> bool:
        return spans[later][0] >= spans[earlier][1]

    for service in ("users", "products", "orders"):
        assert after(f"{service}-2", f"{service}-1"), service
        assert after(f"{service}-1", "postgres") and after(f"{service}-1", "redis"), service
        assert after("gateway", f"{service}-2"), service
