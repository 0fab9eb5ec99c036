"""Every input the program declares is one the real providers know.

Mocks accept any property name, so a misspelt key in a dict literal (`{"permisions": "0440"}`) would
pass every other mock test and fail only under a real `pulumi up`. This walks each declared input,
nested dicts included, against the argument classes of the provider SDKs that the CLI's plugins
implement.
"""

from __future__ import annotations

import importlib
import inspect
import re
from types import ModuleType
from typing import Any

import pytest

from stackplan.fakes import unwrap_secrets
from tests.support.evaluation import Evaluation

PROVIDER_MODULES = {"docker": "pulumi_docker", "random": "pulumi_random", "tls": "pulumi_tls"}
NESTED_ARGS = re.compile(r"ForwardRef\('(\w+Args)'\)")


def wire_name(parameter: str) -> str:
    """The SDK's snake_case parameter as it travels to the engine (camelCase)."""
    return re.sub(r"_([a-z0-9])", lambda match: match.group(1).upper(), parameter)


def argument_types(args_class: type) -> dict[str, str | None]:
    """Wire name -> the nested argument class it takes, if any."""
    parameters = inspect.signature(args_class.__init__).parameters
    fields: dict[str, str | None] = {}
    for name, parameter in parameters.items():
        if name == "__self__":
            continue
        nested = NESTED_ARGS.search(repr(parameter.annotation))
        fields[wire_name(name)] = nested.group(1) if nested else None
    return fields


def args_class_of(resource_type: str) -> tuple[ModuleType, type]:
    package, _, class_name = resource_type.rpartition(":")
    module = importlib.import_module(PROVIDER_MODULES[package.split(":")[0]])
    return module, getattr(module, f"{class_name}Args")


def unknown_keys(value: Any, args_class: type, module: ModuleType, path: str) -> list[str]:
    if isinstance(value, list):
        return [
            problem
            for index, item in enumerate(value)
            for problem in unknown_keys(item, args_class, module, f"{path}[{index}]")
        ]
    if not isinstance(value, dict):
        return []
    fields = argument_types(args_class)
    problems = []
    for key, item in value.items():
        if key not in fields:
            problems.append(f"{path}.{key}")
        elif (nested := fields[key]) is not None:
            nested_class = getattr(module._inputs, nested)
            problems.extend(unknown_keys(item, nested_class, module, f"{path}.{key}"))
    return problems


def provider_resources(evaluation: Evaluation) -> list[Any]:
    return [
        resource
        for resource in evaluation.mocks.resources
        if resource.custom and resource.type.split(":")[0] in PROVIDER_MODULES
    ]


@pytest.mark.parametrize("published", [False, True], ids=["default", "stores-published"])
def test_every_declared_input_is_known_to_its_provider(evaluate: Any, published: bool) -> None:
    config = {"publishPostgres": published, "publishRedis": published}
    evaluation = evaluate(config)
    resources = provider_resources(evaluation)
    assert {resource.type.split(":")[0] for resource in resources} == set(PROVIDER_MODULES)
    problems = []
    for resource in resources:
        module, args_class = args_class_of(resource.type)
        inputs = unwrap_secrets(resource.inputs)
        problems.extend(unknown_keys(inputs, args_class, module, resource.name))
    assert problems == []


def test_a_misspelt_nested_key_is_caught() -> None:
    module, container_args = args_class_of("docker:index/container:Container")
    inputs = {"name": "x", "uploads": [{"file": "/a", "permisions": "0440"}]}
    assert unknown_keys(inputs, container_args, module, "gateway") == [
        "gateway.uploads[0].permisions"
    ]
