"""Stack-scoped Docker names and labels, so two stacks of the project coexist on one engine."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

# The labels every Docker object of a stack carries: the harness, teardown and users filter on them.
PROJECT_LABEL = "microstack.project"
STACK_LABEL = "microstack.stack"
COMPONENT_LABEL = "microstack.component"


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
        return {COMPONENT_LABEL: component} | self.stack_labels

    @property
    def stack_labels(self) -> dict[str, str]:
        """The labels that identify the stack (a filter for all of its objects)."""
        return {PROJECT_LABEL: self.project, STACK_LABEL: self.stack}

    def label_pairs(
        self, component: str, extra: Mapping[str, str] | None = None
    ) -> list[tuple[str, str]]:
        """(label, value) pairs for a resource's `labels`, sorted so inputs are stable."""
        labels = self.labels(component) | dict(extra or {})
        return sorted(labels.items())
