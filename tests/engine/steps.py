"""Day two: the steps `python -m tests.engine up` takes on a running stack, as `pulumi up` does.

This module decides and records; it never touches Docker (tests/engine/engine_mocks.py acts on its
decisions), so its semantics have unit tests of their own (tests/unit/test_day_two_steps.py).

- Each registration is matched to the previous run's resource by URN or alias and diffed by
  `stackplan.diff.step_for`, with the one rules table `stackplan/rules.py`: no step when nothing
  changed, else create, update in place or replace; a replacement deletes first when the rules (or
  the resource option) say so, as pulumi-docker does for containers.
- Order comes from the program: the mocks' `new_resource` blocks until the object exists, as the
  engine's RegisterResource does, and the Python SDK registers a resource only once the resources
  it depends on (`depends_on`, and inputs that are their outputs) have registered.
- Resources the program no longer declares, and the old halves of create-before-delete
  replacements, are deleted at the end, after every create and update, newest first.
- The state (URN, type, name, inputs, id, outputs per resource) is what the next run diffs
  against and where generated values (passwords, the TLS key) come from: an unchanged
  RandomPassword keeps its result, or PostgreSQL's volume would refuse the new password. It holds
  those secrets, so it is written owner-only (launchers.processes.write_secret).
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from launchers.processes import write_secret
from stackplan.diff import Action, Step, previous_of, step_for
from stackplan.model import Resource
from stackplan.render import ORDER, SYMBOLS

STATE_VERSION = 1


@dataclass(frozen=True)
class StateEntry:
    """One resource as the last run left it. `resource.inputs` hide secrets behind digests salted
    with the state's salt (for the diff); `outputs` are the plain values the harness produced."""

    resource: Resource
    id: str | None
    outputs: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"resource": self.resource.to_json(), "id": self.id, "outputs": dict(self.outputs)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StateEntry:
        return cls(Resource.from_json(data["resource"]), data.get("id"), dict(data["outputs"]))


@dataclass(frozen=True)
class StackState:
    """The resources of one run, in registration order (dependencies before dependants)."""

    salt: str
    entries: tuple[StateEntry, ...] = ()

    @classmethod
    def new(cls) -> StackState:
        return cls(salt=secrets.token_hex(16))

    @classmethod
    def load(cls, path: Path) -> StackState | None:
        """None when there is no state: the stack was never brought up (or was taken down)."""
        if not path.exists():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"{path}: state version {data.get('version')}, expected 1")
        entries = tuple(StateEntry.from_json(entry) for entry in data["resources"])
        return cls(salt=str(data["salt"]), entries=entries)

    def save(self, path: Path) -> None:
        document = {
            "version": STATE_VERSION,
            "salt": self.salt,
            "resources": [entry.to_json() for entry in self.entries],
        }
        write_secret(path, json.dumps(document, indent=2, sort_keys=True) + "\n")


@dataclass(frozen=True)
class Decision:
    """What to do with one registration: `step` None means unchanged (reuse `previous`)."""

    step: Step | None
    previous: StateEntry | None

    @property
    def deletes_first(self) -> bool:
        return self.step is not None and self.step.delete_before_replace


@dataclass(frozen=True)
class Summary:
    """The steps a run took, in the order it took them, like the end of `pulumi up`'s output."""

    steps: tuple[Step, ...]
    unchanged: int

    def names(self, action: Action) -> list[str]:
        return [step.name for step in self.steps if step.action is action]

    def count(self, action: Action) -> int:
        return len(self.names(action))

    @property
    def changed(self) -> bool:
        return bool(self.steps)

    def render(self) -> str:
        if not self.steps:
            return f"Resources:\n    no changes: {self.unchanged} unchanged\n"
        lines = ["Resources:"]
        for action in ORDER:
            if names := self.names(action):
                past = "replaced" if action is Action.REPLACE else f"{action.value}d"
                symbol = SYMBOLS[action]
                lines.append(f"    {symbol:<2} {len(names)} {past}: {', '.join(names)}")
        lines.append(f"    {self.unchanged} unchanged")
        return "\n".join(lines) + "\n"


class DayTwo:
    """Decides each registration's step against the previous state and records what was applied.

    Thread-safe: the Pulumi runtime registers resources from a thread pool.
    """

    def __init__(self, previous: StackState | None) -> None:
        previous = previous or StackState.new()
        self.salt = previous.salt
        self._previous = {entry.resource.urn: entry for entry in previous.entries}
        self._matched: set[str] = set()
        # Previous URNs whose successor this run has recorded.
        self._superseded: set[str] = set()
        # Previous URNs whose object still exists on the engine.
        self._still_there = set(self._previous)
        self._applied: list[StateEntry] = []
        self._steps: list[Step] = []
        self._unchanged = 0
        self._lock = threading.Lock()

    def decide(self, resource: Resource) -> Decision:
        with self._lock:
            old = {urn: entry.resource for urn, entry in self._previous.items()}
            previous = previous_of(resource, old, self._matched)
            if previous is None:
                return Decision(step_for(None, resource), None)
            self._matched.add(previous.urn)
            return Decision(step_for(previous, resource), self._previous[previous.urn])

    def deleted_first(self, decision: Decision) -> None:
        """The old object of a delete-before-replace is gone (its replacement is not there yet)."""
        if decision.previous is not None:
            with self._lock:
                self._still_there.discard(decision.previous.resource.urn)

    def record(
        self,
        resource: Resource,
        decision: Decision,
        object_id: str | None,
        outputs: Mapping[str, Any],
    ) -> None:
        """A registration is done: its object exists with these outputs."""
        with self._lock:
            self._applied.append(StateEntry(resource, object_id, dict(outputs)))
            if decision.step is None:
                self._unchanged += 1
            else:
                self._steps.append(decision.step)
            if decision.previous is None:
                return
            urn = decision.previous.resource.urn
            self._superseded.add(urn)
            # A create-before-delete replacement leaves the old object for the end of the run.
            step = decision.step
            if step is None or step.action is not Action.REPLACE or step.delete_before_replace:
                self._still_there.discard(urn)

    def deletions(self) -> list[StateEntry]:
        """What to delete once every registration is done, dependants first (the reverse of the
        previous run's registration order): resources that left the program, and the old halves
        of create-before-delete replacements."""
        with self._lock:
            order = reversed(self._previous)
            return [self._previous[urn] for urn in order if urn in self._still_there]

    def deleted(self, entry: StateEntry) -> None:
        with self._lock:
            urn = entry.resource.urn
            self._still_there.discard(urn)
            if urn not in self._matched:  # an old half is part of its replace step already
                self._steps.append(_delete_step(entry.resource))

    def summary(self) -> Summary:
        with self._lock:
            return Summary(tuple(self._steps), self._unchanged)

    def state(self) -> StackState:
        """What exists now: this run's resources, then the old ones that nothing superseded (after
        a failed run, the next run diffs against those and finishes the job)."""
        with self._lock:
            left = [
                entry
                for urn, entry in self._previous.items()
                if urn in self._still_there and urn not in self._superseded
            ]
            return StackState(self.salt, (*self._applied, *left))


def _delete_step(resource: Resource) -> Step:
    return Step(
        Action.DELETE, resource.urn, resource.type, resource.name, resource.custom, resource.parent
    )
