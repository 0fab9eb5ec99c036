"""Stack-scoped Docker names and labels, so two stacks of the project coexist on one engine."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi


@dataclass(frozen=True)
class StackScope:
    project: str
    stack: str

    @classmethod
    def current(cls) -> StackScope:
        return cls(project=pulumi.get_project(), stack=pulumi.get_stack())

    @property
    def prefix(self) -> str:
        return f"{self.project}-{self.stack}"

    def name(self, logical: str) -> str:
        """The engine-level name of a Docker object: `<project>-<stack>-<logical name>`."""
        return f"{self.prefix}-{logical}"

    def labels(self, component: str) -> dict[str, str]:
        """Labels on every Docker object: they let the harness and users find a stack's objects."""
        return {
            "microstack.component": component,
            "microstack.project": self.project,
            "microstack.stack": self.stack,
        }

    def label_list(
        self, component: str, extra: Mapping[str, str] | None = None
    ) -> list[dict[str, str]]:
        """The provider's `labels` shape (label/value pairs), sorted so inputs are stable."""
        labels = self.labels(component) | dict(extra or {})
        return [{"label": key, "value": labels[key]} for key in sorted(labels)]
