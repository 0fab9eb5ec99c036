"""Strict reading of a resource's inputs: an argument the harness does not implement is an error.

The harness must never pretend to realize something it ignores (a silently dropped `privileged`,
`dns` or `tmpfs` would make the engine run prove less than it claims). Each handler takes the
arguments it implements; `finish()` then fails, naming the resource type and every argument left.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class UnsupportedInputError(RuntimeError):
    """The program uses a resource argument (or type) that the engine harness does not implement."""


class ResourceInputs:
    """The inputs of one resource (or of one nested block, e.g. a container's `healthcheck`)."""

    def __init__(self, where: str, values: Mapping[str, Any]) -> None:
        self.where = where
        self._values = {key: value for key, value in values.items() if value is not None}
        self._taken: set[str] = set()

    def take(self, key: str, default: Any = None) -> Any:
        self._taken.add(key)
        return self._values.get(key, default)

    def require(self, key: str) -> Any:
        value = self.take(key)
        if value is None:
            raise UnsupportedInputError(f"{self.where}: required argument '{key}' is missing")
        return value

    def accept_if(self, key: str, *allowed: Any) -> None:
        """Arguments whose only supported values are the provider's behaviour anyway."""
        value = self.take(key)
        if value is not None and value not in allowed:
            raise UnsupportedInputError(
                f"{self.where}: argument '{key}' = {value!r} is not implemented by the engine "
                f"harness (supported: {', '.join(map(repr, allowed))})"
            )

    def block(self, key: str) -> ResourceInputs | None:
        value = self.take(key)
        return None if value is None else ResourceInputs(f"{self.where}.{key}", value)

    def blocks(self, key: str) -> list[ResourceInputs]:
        return [
            ResourceInputs(f"{self.where}.{key}[{index}]", item)
            for index, item in enumerate(self.take(key) or [])
        ]

    def finish(self) -> None:
        left = sorted(set(self._values) - self._taken)
        if left:
            raise UnsupportedInputError(
                f"{self.where}: argument(s) {', '.join(left)} not implemented by the engine "
                "harness; implement them in tests/engine rather than ignore them"
            )


def label_map(pairs: list[Mapping[str, str]] | None) -> dict[str, str]:
    """The provider's `labels` shape (a list of label/value pairs) as Docker's mapping."""
    labels: dict[str, str] = {}
    for pair in pairs or []:
        unexpected = set(pair) - {"label", "value"}
        if unexpected:
            raise UnsupportedInputError(f"labels: unexpected keys {sorted(unexpected)}")
        labels[pair["label"]] = pair["value"]
    return labels
