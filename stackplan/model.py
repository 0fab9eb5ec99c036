"""What one evaluation of the program declared: resources as the engine would register them.

Values are JSON. A secret input value never leaves the evaluating process in clear: it travels as
`{"__secret__": "<salted digest>"}`, which is enough to tell changed from unchanged and useless to
anyone reading a plan or its JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SECRET_KEY = "__secret__"
ROOT_STACK_TYPE = "pulumi:pulumi:Stack"


def is_secret(value: object) -> bool:
    return isinstance(value, dict) and set(value) == {SECRET_KEY}


def contains_secret(value: object) -> bool:
    if is_secret(value):
        return True
    if isinstance(value, dict):
        return any(contains_secret(item) for item in value.values())
    if isinstance(value, list):
        return any(contains_secret(item) for item in value)
    return False


@dataclass(frozen=True)
class Resource:
    """One registered resource. `custom` is False for components (no engine-level object)."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str | None = None
    aliases: tuple[str, ...] = ()
    inputs: Mapping[str, Any] = field(default_factory=dict)
    dependencies: tuple[str, ...] = ()
    # Input name -> URNs its value came from (outputs of those resources).
    property_dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    delete_before_replace: bool = False
    replace_on_changes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "custom": self.custom,
            "parent": self.parent,
            "aliases": list(self.aliases),
            "inputs": dict(self.inputs),
            "dependencies": list(self.dependencies),
            "property_dependencies": {
                key: list(urns) for key, urns in self.property_dependencies.items()
            },
            "delete_before_replace": self.delete_before_replace,
            "replace_on_changes": list(self.replace_on_changes),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Resource:
        return cls(
            urn=data["urn"],
            type=data["type"],
            name=data["name"],
            custom=bool(data["custom"]),
            parent=data.get("parent"),
            aliases=tuple(data.get("aliases", ())),
            inputs=dict(data.get("inputs", {})),
            dependencies=tuple(data.get("dependencies", ())),
            property_dependencies={
                key: tuple(urns) for key, urns in data.get("property_dependencies", {}).items()
            },
            delete_before_replace=bool(data.get("delete_before_replace", False)),
            replace_on_changes=tuple(data.get("replace_on_changes", ())),
        )


def make_urn(stack: str, project: str, parent: str | None, type_: str, name: str) -> str:
    """`urn:pulumi:<stack>::<project>::<parent type chain$>type::name`, as the engine builds it.

    The root stack is nobody's type prefix: a top-level resource's URN names its own type only.
    """
    chain = qualified_type(parent) if parent else ""
    if chain == ROOT_STACK_TYPE:
        chain = ""
    qualified = f"{chain}${type_}" if chain else type_
    return f"urn:pulumi:{stack}::{project}::{qualified}::{name}"


def urn_parts(urn: str) -> tuple[str, str, str, str]:
    """(stack, project, qualified type, name) of a URN; a name may itself contain `::`."""
    prefix, project, qualified, name = urn.split("::", 3)
    return prefix.removeprefix("urn:pulumi:"), project, qualified, name


def qualified_type(urn: str) -> str:
    return urn_parts(urn)[2]


def inherited_child_alias(
    child_type: str, child_name: str, parent_name: str, parent_alias: str
) -> str:
    """The URN a child had under its parent's old URN (the engine's `inheritedChildAlias`): a
    child whose name starts with the parent's name is renamed along with it."""
    stack, project, parent_qualified, alias_parent_name = urn_parts(parent_alias)
    name = child_name
    if child_name.startswith(parent_name):
        name = alias_parent_name + child_name.removeprefix(parent_name)
    prefix = "" if parent_qualified == ROOT_STACK_TYPE else f"{parent_qualified}$"
    return f"urn:pulumi:{stack}::{project}::{prefix}{child_type}::{name}"
