"""Run the real Pulumi program (`infra.program.declare_platform`) under any `pulumi.runtime.Mocks`.

The mock unit tests and the Docker engine harness both go through `run_program`, so the topology is
declared in one place (infra/) and only what happens to each resource differs.

API
---
`run_program(mocks, config=None, *, project="microstack", stack="dev", sources=None,
preview=False, monitor=None) -> ProgramRun`
    Configures the Pulumi runtime with `mocks` and the given stack config, evaluates the program
    and waits for every resource registration and every output. `config` maps keys (with or
    without the `microstack:` prefix) to values; non-strings are converted the way the CLI passes
    them (booleans `true`/`false`, numbers as text, lists/dicts as JSON). `tlsCertificate` and
    `tlsPrivateKey` are passed as secret config. `sources` is a repository root (Path or
    `infra.sources.SourceTree`) to build and upload from instead of this checkout. `monitor`
    replaces the stock mock monitor (the engine harness's records URNs and aliases). A ConfigError
    (invalid config) propagates unchanged.

`ProgramRun.outputs`: the stack outputs document as plain Python values, exactly the keys
    `pulumi stack output --json --show-secrets` prints. `ProgramRun.secret_outputs`: the keys
    Pulumi would mark secret. `ProgramRun.document()`: the outputs as JSON text, as e2e reads it.

`RecordingMocks`: a Mocks base class that records every registered resource in `resources`, a
    list of `RecordedResource(type, name, custom, inputs)` in registration order (`custom` is
    False for component resources; inputs still carry Pulumi's secret wrappers), and answers with
    the inputs plus the outputs the program reads (the table in `stackplan/fakes.py`, shared
    with `python -m scripts.plan`). Override `outputs_for(resource_type, name,
    inputs)` to create things for real; the default fakes:
      docker:index/image:Image                   -> repoDigest ("sha256:...", the image ID)
      docker:index/remoteImage:RemoteImage       -> imageId, repoDigest
      random:index/randomPassword:RandomPassword -> result
      tls:index/privateKey:PrivateKey            -> privateKeyPem
      tls:index/selfSignedCert:SelfSignedCert    -> certPem
    Input names are the provider's camelCase (`networksAdvanced`, `uploads[].file`, `build.args`).
    Build `context` and `dockerfile` are absolute paths; the Dockerfile lies inside the context.
    Containers run `repoDigest` of their Image (the image ID for a local build).

`stackplan.fakes.unwrap_secrets(value)` strips Pulumi's secret wrappers recursively (a harness
needs plain values);
`is_secret(value)` tells whether a recorded input value was passed as a secret.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor

from infra.config import load_settings
from infra.program import declare_platform
from infra.sources import SourceTree
from infra.validation import NAMESPACE
from stackplan.fakes import name_addressed_outputs

SECRET_CONFIG_KEYS = ("tlsCertificate", "tlsPrivateKey")


@dataclass(frozen=True)
class ProgramRun:
    outputs: dict[str, Any]
    secret_outputs: frozenset[str]

    def document(self) -> str:
        return json.dumps(self.outputs, indent=2, sort_keys=True) + "\n"


@dataclass(frozen=True)
class RecordedResource:
    type: str
    name: str
    custom: bool  # False for component resources, which have no engine-level object
    inputs: dict[str, Any] = field(repr=False)


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[RecordedResource] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        self.resources.append(
            RecordedResource(args.typ, args.name, bool(args.custom), dict(args.inputs))
        )
        state = dict(args.inputs) | self.outputs_for(args.typ, args.name, args.inputs)
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        raise NotImplementedError(f"the program is not expected to invoke {args.token}")

    def outputs_for(
        self, resource_type: str, name: str, inputs: Mapping[str, Any]
    ) -> dict[str, Any]:
        return name_addressed_outputs(resource_type, name, inputs)

    def of_type(self, resource_type: str) -> list[RecordedResource]:
        return [resource for resource in self.resources if resource.type == resource_type]

    def named(self, name: str) -> RecordedResource:
        """The custom (engine-level) resource with this logical name."""
        matches = [r for r in self.resources if r.custom and r.name == name]
        if len(matches) != 1:
            raise KeyError(f"expected one resource named {name!r}, found {len(matches)}")
        return matches[0]


def run_program(
    mocks: pulumi.runtime.Mocks,
    config: Mapping[str, Any] | None = None,
    *,
    project: str = "microstack",
    stack: str = "dev",
    sources: SourceTree | Path | None = None,
    preview: bool = False,
    monitor: MockMonitor | None = None,
) -> ProgramRun:
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=preview, monitor=monitor)
    values = {_full_key(key): _config_text(value) for key, value in (config or {}).items()}
    pulumi.runtime.set_all_config(
        values, secret_keys=[f"{NAMESPACE}:{key}" for key in SECRET_CONFIG_KEYS]
    )
    tree = SourceTree(Path(sources)) if isinstance(sources, (str, Path)) else sources
    resolved: dict[str, Any] = {}
    secret: set[str] = set()

    async def collect(outputs: Mapping[str, pulumi.Output[Any]]) -> None:
        for key, output in outputs.items():
            resolved[key] = await output.future()
            if await output.is_secret():
                secret.add(key)

    @pulumi.runtime.test
    def evaluate() -> Any:
        return collect(declare_platform(load_settings(), tree))

    evaluate()
    return ProgramRun(outputs=resolved, secret_outputs=frozenset(secret))


def is_secret(value: Any) -> bool:
    return rpc.is_rpc_secret(value)


def _full_key(key: str) -> str:
    return key if ":" in key else f"{NAMESPACE}:{key}"


def _config_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)
