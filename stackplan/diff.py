"""The plan: what applying the new resources does to a stack deployed with the old ones.

`plan(old, new)` is a pure function of two lists of `Resource`s (from `stackplan.evaluate` or
anything else that records registrations) and the rules table (`stackplan.rules`). Resources are
matched by URN; a new resource whose alias URNs include an old resource's URN is that resource
(moved or renamed with an alias), as in the engine. What is left over is created or deleted.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from stackplan.model import Resource, is_secret
from stackplan.rules import (
    REPLACE_RULES,
    Effect,
    Rule,
    delete_before_replace_rule,
    rule_for,
)

# Shown for an input whose value comes from a resource being replaced or created: a real preview
# cannot know it either.
UNKNOWN_KEY = "__unknown__"
PROVIDER_DECIDES = "update (provider decides)"


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"


@dataclass(frozen=True)
class Change:
    """One changed input path. For a secret, `old`/`new` are None and `secret` is True."""

    path: str
    old: Any
    new: Any
    secret: bool = False
    effect: str = PROVIDER_DECIDES  # "replace", "update" or PROVIDER_DECIDES
    rule: str | None = None  # the rule's source, when a rule decided


@dataclass(frozen=True)
class Step:
    action: Action
    urn: str
    type: str
    name: str
    custom: bool
    parent: str | None
    changes: tuple[Change, ...] = ()
    replaced_by: tuple[str, ...] = ()  # the inputs that force a replacement
    delete_before_replace: bool = False
    delete_before_replace_rule: str | None = None
    provider_decides: bool = False  # some change has no rule: the provider's diff decides
    previous_urn: str | None = None  # set when matched through an alias


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    unchanged: int
    notes: tuple[str, ...] = field(default=())

    @property
    def has_changes(self) -> bool:
        return bool(self.steps)

    def count(self, action: Action) -> int:
        return sum(1 for step in self.steps if step.action is action)


def plan(
    old: Sequence[Resource],
    new: Sequence[Resource],
    *,
    rules: tuple[Rule, ...] = REPLACE_RULES,
    notes: Sequence[str] = (),
) -> Plan:
    old_by_urn = {resource.urn: resource for resource in old}
    matched: set[str] = set()
    recreated: dict[str, str] = {}  # new URN -> name, for resources whose outputs are unknown
    steps: list[Step] = []
    unchanged = 0
    for resource in new:
        previous = previous_of(resource, old_by_urn, matched)
        if previous is None:
            steps.append(_create(resource))
            recreated[resource.urn] = resource.name
            continue
        matched.add(previous.urn)
        step = _compare(previous, resource, rules, recreated)
        if step is None:
            unchanged += 1
            continue
        steps.append(step)
        if step.action is Action.REPLACE:
            recreated[resource.urn] = resource.name
    steps.extend(_delete(resource) for resource in old if resource.urn not in matched)
    return Plan(steps=tuple(steps), unchanged=unchanged, notes=tuple(notes))


def previous_of(
    resource: Resource, old_by_urn: Mapping[str, Resource], matched: set[str]
) -> Resource | None:
    """The old resource that `resource` is: same URN, or an old URN among its aliases (the
    engine's matching); one already matched to another resource is not matched twice."""
    for urn in (resource.urn, *resource.aliases):
        if urn in old_by_urn and urn not in matched:
            return old_by_urn[urn]
    return None


def step_for(
    previous: Resource | None, resource: Resource, *, rules: tuple[Rule, ...] = REPLACE_RULES
) -> Step | None:
    """The step one resource takes while it is applied; None when it is unchanged.

    Unlike `plan`, every input is known here: an apply registers a resource only once the
    resources its inputs come from are done, so a rebuilt image with the same ID changes nothing
    downstream (a preview would show it as known after apply).
    """
    if previous is None:
        return _create(resource)
    return _compare(previous, resource, rules, recreated={})


def _create(resource: Resource) -> Step:
    changes = tuple(
        Change(key, None, None, secret=True) if _secretish(value) else Change(key, None, value)
        for key, value in sorted(resource.inputs.items())
        if value is not None
    )
    return Step(
        Action.CREATE,
        resource.urn,
        resource.type,
        resource.name,
        resource.custom,
        resource.parent,
        changes=changes,
    )


def _delete(resource: Resource) -> Step:
    return Step(
        Action.DELETE,
        resource.urn,
        resource.type,
        resource.name,
        resource.custom,
        resource.parent,
    )


def _compare(
    old: Resource, new: Resource, rules: tuple[Rule, ...], recreated: Mapping[str, str]
) -> Step | None:
    changes = [_decide(change, new, rules) for change in _changed_inputs(old, new, recreated)]
    if not changes:
        return None
    forcing = sorted({_top_key(change.path) for change in changes if change.effect == "replace"})
    action = Action.REPLACE if forcing else Action.UPDATE
    type_rule = delete_before_replace_rule(new.type, rules)
    return Step(
        action,
        new.urn,
        new.type,
        new.name,
        new.custom,
        new.parent,
        changes=tuple(changes),
        replaced_by=tuple(forcing),
        delete_before_replace=action is Action.REPLACE
        and (new.delete_before_replace or type_rule is not None),
        delete_before_replace_rule=(
            "resource option deleteBeforeReplace"
            if new.delete_before_replace
            else (type_rule.source if type_rule else None)
        )
        if action is Action.REPLACE
        else None,
        provider_decides=action is Action.UPDATE
        and any(change.effect == PROVIDER_DECIDES for change in changes),
        previous_urn=old.urn if old.urn != new.urn else None,
    )


def _changed_inputs(old: Resource, new: Resource, recreated: Mapping[str, str]) -> Iterator[Change]:
    for key in sorted(set(old.inputs) | set(new.inputs)):
        before, after = old.inputs.get(key), new.inputs.get(key)
        sources = [
            recreated[urn] for urn in new.property_dependencies.get(key, ()) if urn in recreated
        ]
        if sources and before == after and not _secretish(after):
            # The value is an output of a resource being replaced or created: unknown until then.
            after = {UNKNOWN_KEY: sorted(set(sources))}
            yield Change(key, before, after)
            continue
        yield from _value_changes(key, before, after)


def _value_changes(path: str, before: Any, after: Any) -> Iterator[Change]:
    if before == after:
        return
    if _secretish(before) or _secretish(after):
        yield Change(path, None, None, secret=True)
    elif isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(set(before) | set(after)):
            yield from _value_changes(f"{path}.{key}", before.get(key), after.get(key))
    elif isinstance(before, list) and isinstance(after, list):
        for index in range(max(len(before), len(after))):
            yield from _value_changes(f"{path}[{index}]", _at(before, index), _at(after, index))
    else:
        yield Change(path, before, after)


def _decide(change: Change, resource: Resource, rules: tuple[Rule, ...]) -> Change:
    key = _top_key(change.path)
    if key in resource.replace_on_changes or "*" in resource.replace_on_changes:
        return _with(change, "replace", "resource option replaceOnChanges")
    rule = rule_for(resource.type, key, rules)
    if rule is None:
        return change
    effect = "replace" if rule.effect is Effect.REPLACE else "update"
    return _with(change, effect, rule.source)


def _with(change: Change, effect: str, source: str) -> Change:
    return Change(change.path, change.old, change.new, change.secret, effect, source)


def _top_key(path: str) -> str:
    return path.split(".", 1)[0].split("[", 1)[0]


def _at(values: list[Any], index: int) -> Any:
    return values[index] if index < len(values) else None


def _secretish(value: Any) -> bool:
    return is_secret(value)


def is_unknown(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {UNKNOWN_KEY}
