"""Evaluate the real Pulumi program under recording mocks: what the unit tests assert on.

`evaluate_program(config, **run_program options) -> Evaluation` (its resources and outputs);
`ContentAddressedMocks` gives built images IDs that follow from their build inputs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackplan.fakes import unwrap_secrets
from tests.support.pulumi_program import (
    ProgramRun,
    RecordedResource,
    RecordingMocks,
    run_program,
)

REPOSITORY = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Evaluation:
    """One evaluation of the program: what it declared and what it exported."""

    mocks: RecordingMocks
    run: ProgramRun

    @property
    def outputs(self) -> dict[str, Any]:
        return self.run.outputs

    def resource(self, name: str) -> RecordedResource:
        return self.mocks.named(name)

    def of_type(self, resource_type: str) -> list[RecordedResource]:
        return [r for r in self.mocks.of_type(resource_type) if r.custom]

    def containers(self) -> dict[str, RecordedResource]:
        return {r.name: r for r in self.of_type("docker:index/container:Container")}


Evaluate = Callable[..., Evaluation]
IMAGE = "docker:index/image:Image"


class ContentAddressedMocks(RecordingMocks):
    """A built image's ID follows from its build inputs, as an engine's does: a rebuilt base image
    reaches the images built FROM it (the default fake depends on the resource name only)."""

    def outputs_for(
        self, resource_type: str, name: str, inputs: Mapping[str, Any]
    ) -> dict[str, Any]:
        if resource_type != IMAGE:
            return super().outputs_for(resource_type, name, inputs)
        recipe = json.dumps(unwrap_secrets(dict(inputs)), sort_keys=True, default=str)
        return {"repoDigest": f"sha256:{hashlib.sha256(recipe.encode()).hexdigest()}"}


def evaluate_program(config: Mapping[str, Any] | None = None, **options: Any) -> Evaluation:
    mocks = ContentAddressedMocks()
    run = run_program(mocks, config or {}, **options)
    return Evaluation(mocks=mocks, run=run)
