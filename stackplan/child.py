"""Evaluate one source tree's Pulumi program under mocks; run by `stackplan.evaluate` only.

`python -m stackplan.child RESULT_PATH` with a JSON request on stdin (root, project, stack, config,
secret_keys, salt). The tree's root goes first on sys.path, so `infra` is that tree's program,
whatever its internals; only its public entry points are used. The result file holds either
`{"resources": [...]}` or `{"error": {"kind": "config" | "program", "message": "..."}}`. It never
holds a secret in clear: secret values are replaced by a digest salted per plan.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import os
import runpy
import sys
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor

from stackplan.fakes import content_addressed_outputs, unwrap_secrets
from stackplan.model import (
    ROOT_STACK_TYPE,
    SECRET_KEY,
    Resource,
    inherited_child_alias,
    make_urn,
    urn_parts,
)


class PlanMocks(pulumi.runtime.Mocks):
    def new_resource(
        self, args: pulumi.runtime.MockResourceArgs
    ) -> tuple[str | None, dict[str, Any]]:
        inputs = dict(args.inputs)
        outputs = content_addressed_outputs(args.typ, args.name, inputs, unwrap_secrets(inputs))
        return f"{args.name}-id", inputs | outputs

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        raise NotImplementedError(f"the program is not expected to invoke {args.token}")


class CapturingMonitor(MockMonitor):
    """The mock monitor, plus what the engine would know of each registration: its real URN,
    parent, alias URNs, dependencies and resource options."""

    def __init__(self, mocks: pulumi.runtime.Mocks, salt: str) -> None:
        super().__init__(mocks)
        self.salt = salt
        self.captured: list[Resource] = []
        self._aliases: dict[str, tuple[str, ...]] = {}

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        # The stock mock prefixes top-level types with the root stack's; the engine does not.
        return make_urn(pulumi.get_stack(), pulumi.get_project(), parent or None, type_, name)

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != ROOT_STACK_TYPE:
            self.captured.append(self.capture(request, response.urn))
        return response

    def capture(self, request: Any, urn: str) -> Resource:
        """The registration as a `Resource` (also remembers its aliases for its children)."""
        aliases = self._alias_urns(request)
        self._aliases[urn] = aliases
        inputs = rpc.deserialize_properties(request.object)
        return Resource(
            urn=urn,
            type=request.type,
            name=request.name,
            custom=bool(request.custom),
            parent=request.parent or None,
            aliases=aliases,
            inputs={key: self._conceal(value) for key, value in inputs.items()},
            dependencies=tuple(request.dependencies),
            property_dependencies={
                key: tuple(deps.urns) for key, deps in request.propertyDependencies.items()
            },
            delete_before_replace=bool(request.deleteBeforeReplace),
            replace_on_changes=tuple(request.replaceOnChanges),
        )

    def _alias_urns(self, request: Any) -> tuple[str, ...]:
        found: list[str] = list(request.aliasURNs)
        for alias in request.aliases:
            if alias.WhichOneof("alias") == "urn":
                found.append(alias.urn)
            else:
                found.append(self._collapse(request, alias.spec))
        # A child of an aliased component had URNs under each of the parent's old URNs.
        parent = request.parent
        if parent and parent in self._aliases:
            parent_name = urn_parts(parent)[3]
            for parent_alias in self._aliases[parent]:
                found.append(
                    inherited_child_alias(request.type, request.name, parent_name, parent_alias)
                )
        return tuple(dict.fromkeys(found))

    def _collapse(self, request: Any, spec: Any) -> str:
        """An alias spec as a URN, with the engine's defaults (`collapseAliasToUrn`)."""
        parent = None if spec.noParent else spec.parentUrn or request.parent or None
        return make_urn(
            spec.stack or pulumi.get_stack(),
            spec.project or pulumi.get_project(),
            parent,
            spec.type or request.type,
            spec.name or request.name,
        )

    def _conceal(self, value: Any) -> Any:
        if rpc.is_rpc_secret(value):
            text = json.dumps(unwrap_secrets(value), sort_keys=True, default=str)
            digest = hashlib.sha256((self.salt + text).encode()).hexdigest()
            return {SECRET_KEY: digest}
        if isinstance(value, dict):
            return {key: self._conceal(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._conceal(item) for item in value]
        # Numbers travel as protobuf doubles: 256, not 256.0, is what the program declared.
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value


def evaluate(request: Mapping[str, Any]) -> list[Resource]:
    root = Path(request["root"])
    program_directory = str(root / "infra")
    # As infra/__main__.py does: infra/ itself must not shadow top-level packages.
    sys.path[:] = [
        entry for entry in sys.path if os.path.abspath(entry or ".") != program_directory
    ]
    sys.path.insert(0, str(root))
    monitor = CapturingMonitor(PlanMocks(), request["salt"])
    pulumi.runtime.set_mocks(
        PlanMocks(),
        project=request["project"],
        stack=request["stack"],
        preview=False,
        monitor=monitor,
    )
    pulumi.runtime.set_all_config(dict(request["config"]), secret_keys=list(request["secret_keys"]))

    @pulumi.runtime.test
    def run() -> Any:
        return _declare(root)

    run()
    return monitor.captured


def _declare(root: Path) -> Any:
    """Call `declare_platform(load_settings(), sources)`; an older tree without it runs its
    `infra/__main__.py` as the CLI would."""
    try:
        program = importlib.import_module("infra.program")
    except ModuleNotFoundError:
        runpy.run_path(str(root / "infra" / "__main__.py"), run_name="__main__")
        return pulumi.Output.from_input(None).future()
    settings = importlib.import_module("infra.config").load_settings()
    declare = program.declare_platform
    if "sources" in inspect.signature(declare).parameters:
        sources = importlib.import_module("infra.sources").SourceTree(root)
        outputs = declare(settings, sources)
    else:
        outputs = declare(settings)
    return pulumi.Output.all(*outputs.values()).future()


def _error_kind(error: BaseException) -> str:
    config = sys.modules.get("infra.validation") or sys.modules.get("infra.config")
    config_error = getattr(config, "ConfigError", None)
    if isinstance(config_error, type) and isinstance(error, config_error):
        return "config"
    return "program"


def main(argv: list[str]) -> int:
    result_path = Path(argv[1])
    request = json.load(sys.stdin)
    try:
        resources = evaluate(request)
    except Exception as error:
        kind = _error_kind(error)
        message = str(error) if kind == "config" else _last_line(error)
        result: dict[str, Any] = {"error": {"kind": kind, "message": message}}
        if kind == "program":
            traceback.print_exc(file=sys.stderr)
    else:
        result = {"resources": [resource.to_json() for resource in resources]}
    result_path.write_text(json.dumps(result), encoding="utf-8")
    return 0


def _last_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[-1] if lines else ''}".rstrip(": ")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
