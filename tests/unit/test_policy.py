"""The policy pack (policy/microstack_policies.py) on the program's own mocked resources.

Each policy's `validate` is called with hand-made ResourceValidationArgs/StackValidationArgs, as
pulumi-policy's own tests do: the rules live only in the pack. The dev and ci configs pass every
policy; each policy has a compliant and a violating resource; an unsafe config is refused.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
)

from policy import microstack_policies as policies
from stackplan.evaluate import read_stack_config
from stackplan.fakes import unwrap_secrets
from tests.support.pulumi_program import RecordingMocks, run_program

REPOSITORY = Path(__file__).resolve().parents[2]
OPTIONS = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def stack_resources(stack: str, overrides: dict[str, Any] | None = None) -> list[PolicyResource]:
    """The program's custom resources for a stack config, with the fake outputs as props."""
    config = dict(read_stack_config(REPOSITORY, stack).values) | (overrides or {})
    mocks = RecordingMocks()
    run_program(mocks, config, stack=stack)
    return [
        PolicyResource(
            resource.type,
            unwrap_secrets(resource.inputs)
            | mocks.outputs_for(resource.type, resource.name, resource.inputs),
            f"urn:pulumi:{stack}::microstack::{resource.type}::{resource.name}",
            resource.name,
            OPTIONS,
            None,
            None,
            [],
            {},
        )
        for resource in mocks.resources
        if resource.custom
    ]


def policy_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    values = dict(policies.CONFIG_DEFAULTS)
    for key, value in (overrides or {}).items():
        values[key.removeprefix("microstack:")] = value
    return values


def violations(
    policy: Any, resources: list[PolicyResource], config: dict[str, Any] | None = None
) -> list[str]:
    found: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        found.append(message)

    if isinstance(policy, ResourceValidationPolicy):
        for resource in resources:
            args = ResourceValidationArgs(
                resource.resource_type,
                resource.props,
                resource.urn,
                resource.name,
                OPTIONS,
                None,
                config or policy_config(),
            )
            policy.validate(args, report)
    else:
        policy.validate(StackValidationArgs(resources, config or policy_config()), report)
    return found


def by_name(name: str) -> Any:
    return next(policy for policy in policies.POLICIES if policy.name == name)


def named(resources: list[PolicyResource], name: str) -> PolicyResource:
    return next(resource for resource in resources if resource.name == name)


def with_props(resource: PolicyResource, **changes: Any) -> PolicyResource:
    props = copy.deepcopy(dict(resource.props)) | changes
    return PolicyResource(
        resource.resource_type, props, resource.urn, resource.name, OPTIONS, None, None, [], {}
    )


@pytest.fixture(scope="module")
def dev() -> list[PolicyResource]:
    return stack_resources("dev")


@pytest.mark.parametrize("stack", ["dev", "ci"])
@pytest.mark.parametrize("policy", policies.POLICIES, ids=lambda policy: policy.name)
def test_the_real_program_passes_every_policy(stack: str, policy: Any) -> None:
    assert violations(policy, stack_resources(stack)) == []


def test_published_stores_pass_when_their_keys_say_so() -> None:
    overrides = {"microstack:publishPostgres": "true", "microstack:publishRedis": "true"}
    resources = stack_resources("dev", overrides)
    config = policy_config({"publishPostgres": True, "publishRedis": True})
    for policy in policies.POLICIES:
        assert violations(policy, resources, config) == [], policy.name


def test_an_unsafe_config_is_refused() -> None:
    """Stores published on every interface, while the policy config says they are not."""
    overrides = {"microstack:publishPostgres": "true", "microstack:gatewayBindAddress": "0.0.0.0"}
    resources = stack_resources("dev", overrides)

    published = violations(by_name("only-gateway-publishes"), resources)
    internal = violations(by_name("stores-on-internal-networks"), resources)
    advisory = violations(by_name("bind-address-not-all-interfaces"), resources)

    assert any("container postgres: ports[0] publishes 5432" in m for m in published)
    assert any("container postgres: networksAdvanced" in m for m in internal)
    assert any("microstack:gatewayBindAddress" in m for m in advisory)


def violating(dev: list[PolicyResource], policy: str) -> list[PolicyResource]:
    """One resource of the dev stack broken the way `policy` must catch."""
    users, gateway, redis = named(dev, "users-1"), named(dev, "gateway"), named(dev, "redis")
    envs = [*users.props["envs"], "REDIS_PASSWORD=hunter2"]
    password = next(r for r in dev if r.name == "redis-password").props["result"]
    cases: dict[str, list[PolicyResource]] = {
        "only-gateway-publishes": [with_props(users, ports=[gateway.props["ports"][0]])],
        "bind-address-not-all-interfaces": [
            with_props(gateway, ports=[{**gateway.props["ports"][0], "ip": "0.0.0.0"}])
        ],
        "container-hardening": [with_props(redis, healthcheck=None)],
        "services-unprivileged": [with_props(users, user="0:0")],
        "no-secret-env-name": [with_props(users, envs=envs)],
        "images-local-and-pinned": [
            with_props(named(dev, "postgres-image"), name="postgres:latest")
        ],
        "stack-labels": [with_props(redis, labels=[])],
        "no-secret-env-value": [
            *dev,
            with_props(users, envs=[*users.props["envs"], f"CACHE_AUTH={password}"]),
        ],
        "stores-on-internal-networks": [
            *dev,
            with_props(redis, networksAdvanced=users.props["networksAdvanced"]),
        ],
    }
    return cases[policy]


@pytest.mark.parametrize("policy", policies.POLICIES, ids=lambda policy: policy.name)
def test_each_policy_refuses_its_violation_and_names_the_property(
    dev: list[PolicyResource], policy: Any
) -> None:
    found = violations(policy, violating(dev, policy.name))

    assert found, f"{policy.name} let its violation through"
    # Every message names the resource and says what to change (after a colon).
    assert all(message.count(":") >= 2 for message in found), found
