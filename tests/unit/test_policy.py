"""The policy pack (policy/microstack_policies.py) on the program's own mocked resources.

Each policy's `validate` is called with hand-made ResourceValidationArgs/StackValidationArgs, as
pulumi-policy's own tests do: the rules live only in the pack. The dev, ci, swarm and ci-swarm
stack files pass every policy (with the pack's config taken from the same file); each policy has a
compliant and a violating resource under each target it applies to; an unsafe config is refused.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
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
from stackplan.child import CapturingMonitor
from stackplan.evaluate import read_stack_config
from stackplan.fakes import unwrap_secrets
from tests.support.pulumi_program import RecordingMocks, run_program

REPOSITORY = Path(__file__).resolve().parents[2]
OPTIONS = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def stack_resources(stack: str, overrides: dict[str, Any] | None = None) -> list[PolicyResource]:
    """The program's custom resources for a stack config, with the fake outputs as props and each
    property's dependencies as the engine reports them (a Swarm service names its networks by ID,
    so only its `taskSpec`'s dependencies say which they are)."""
    mocks = RecordingMocks()
    monitor = CapturingMonitor(mocks, salt="policy")
    run_program(mocks, stack_config(stack) | (overrides or {}), stack=stack, monitor=monitor)
    registered = {(r.type, r.name): r for r in monitor.captured if r.custom}
    resources: dict[str, PolicyResource] = {}
    for recorded in (r for r in mocks.resources if r.custom):
        urn = registered[recorded.type, recorded.name].urn
        props = unwrap_secrets(recorded.inputs) | mocks.outputs_for(
            recorded.type, recorded.name, recorded.inputs
        )
        resources[urn] = PolicyResource(
            recorded.type, props, urn, recorded.name, OPTIONS, None, None, [], {}
        )
    for registration in registered.values():
        resources[registration.urn].property_dependencies.update(
            {
                key: [resources[urn] for urn in urns if urn in resources]
                for key, urns in registration.property_dependencies.items()
            }
        )
    return list(resources.values())


def stack_config(stack: str) -> dict[str, str]:
    return dict(read_stack_config(REPOSITORY, stack).values)


def policy_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The pack's defaults with the pack's own keys among `overrides` (stack config keys, with or
    without `microstack:`, as text the CLI passes or as values)."""
    values = dict(policies.CONFIG_DEFAULTS)
    for key, value in (overrides or {}).items():
        name = key.removeprefix("microstack:")
        if name in values:
            values[name] = value in (True, "true") if isinstance(values[name], bool) else value
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
    return replaced_props(resource, copy.deepcopy(dict(resource.props)) | changes)


def with_value(resource: PolicyResource, path: str, value: Any) -> PolicyResource:
    """`resource` with the property at a dotted path (list indexes as numbers) set to `value`."""
    props = copy.deepcopy(dict(resource.props))
    *parents, last = path.split(".")
    target: Any = props
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    target[int(last) if isinstance(target, list) else last] = value
    return replaced_props(resource, props)


def replaced_props(resource: PolicyResource, props: dict[str, Any]) -> PolicyResource:
    return PolicyResource(
        resource.resource_type,
        props,
        resource.urn,
        resource.name,
        OPTIONS,
        None,
        None,
        [],
        dict(resource.property_dependencies),
    )


def swapped(resources: list[PolicyResource], changed: PolicyResource) -> list[PolicyResource]:
    """The stack with one resource replaced by its changed copy."""
    return [changed if resource.urn == changed.urn else resource for resource in resources]


@pytest.fixture(scope="module")
def dev() -> list[PolicyResource]:
    return stack_resources("dev")


@pytest.fixture(scope="module")
def swarm() -> list[PolicyResource]:
    return stack_resources("swarm")


@pytest.mark.parametrize("stack", ["dev", "ci", "swarm", "ci-swarm"])
@pytest.mark.parametrize("policy", policies.POLICIES, ids=lambda policy: policy.name)
def test_the_real_program_passes_every_policy(stack: str, policy: Any) -> None:
    config = policy_config(stack_config(stack))
    assert violations(policy, stack_resources(stack), config) == []


@pytest.mark.parametrize("stack", ["dev", "swarm"])
def test_published_stores_pass_when_their_keys_say_so(stack: str) -> None:
    overrides = {"microstack:publishPostgres": "true", "microstack:publishRedis": "true"}
    resources = stack_resources(stack, overrides)
    config = policy_config(stack_config(stack) | overrides)
    for policy in policies.POLICIES:
        assert violations(policy, resources, config) == [], policy.name


def test_swarm_images_are_pushed_only_to_the_registry_the_policy_config_names() -> None:
    registry = {"microstack:imageRegistry": "registry.local:5000/team"}
    resources = stack_resources("swarm", registry)
    for policy in policies.POLICIES:
        config = policy_config(stack_config("swarm") | registry)
        assert violations(policy, resources, config) == [], policy.name

    refused = violations(
        by_name("images-local-and-pinned"), resources, policy_config(stack_config("swarm"))
    )
    assert sorted(message.split(":")[0] for message in refused) == [
        "image orders-image",
        "image products-image",
        "image users-image",
    ]


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


# Policies about what only a Swarm service has.
SWARM_ONLY = {"swarm-updates-roll-back"}


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


@pytest.mark.parametrize(
    "policy",
    [policy for policy in policies.POLICIES if policy.name not in SWARM_ONLY],
    ids=lambda policy: policy.name,
)
def test_each_policy_refuses_its_violation_and_names_the_property(
    dev: list[PolicyResource], policy: Any
) -> None:
    found = violations(policy, violating(dev, policy.name))

    assert found, f"{policy.name} let its violation through"
    # Every message names the resource and says what to change (after a colon).
    assert all(message.count(":") >= 2 for message in found), found


# Stands for the swarm stack's generated Redis password in a case's value.
GENERATED_PASSWORD = object()


@dataclass(frozen=True)
class SwarmCase:
    """One resource of the swarm stack broken the way `policy` must catch, and the start of the
    message that names it and its property."""

    policy: str
    resource: str
    path: str | None  # None: the resource unchanged (the policy config makes it a violation)
    value: Any
    message: str
    config: Mapping[str, Any] = field(default_factory=dict)


HOST_PORT = {"targetPort": 5432, "publishedPort": 5432, "publishMode": "host", "protocol": "tcp"}
SWARM_CASES = [
    SwarmCase(
        "only-gateway-publishes",
        "gateway",
        "endpointSpec.ports.0.publishMode",
        "ingress",
        "service gateway: endpointSpec.ports[0].publishMode is 'ingress'",
    ),
    SwarmCase(
        "only-gateway-publishes",
        "postgres",
        "endpointSpec.ports",
        [HOST_PORT],
        "service postgres: endpointSpec.ports[0] publishes 5432",
    ),
    SwarmCase(
        "bind-address-not-all-interfaces",
        "gateway",
        None,
        None,
        "service gateway: endpointSpec.ports[0] listens on every address of its node",
        {"target": "containers"},
    ),
    SwarmCase(
        "bind-address-not-all-interfaces",
        "gateway",
        None,
        None,
        "service gateway: endpointSpec.ports[0] listens on every address of its node",
        {"gatewayBindAddress": "127.0.0.1"},
    ),
    SwarmCase(
        "container-hardening",
        "redis",
        "taskSpec.containerSpec.healthcheck",
        None,
        "service redis: taskSpec.containerSpec.healthcheck.tests is missing",
    ),
    SwarmCase(
        "container-hardening",
        "users",
        "taskSpec.resources.limits",
        {},
        "service users: taskSpec.resources.limits.memoryBytes is not set",
    ),
    SwarmCase(
        "container-hardening",
        "users",
        "taskSpec.restartPolicy.condition",
        "none",
        "service users: taskSpec.restartPolicy.condition is 'none'",
    ),
    SwarmCase(
        "container-hardening",
        "gateway",
        "convergeConfig",
        None,
        "service gateway: convergeConfig is None",
    ),
    SwarmCase(
        "services-unprivileged",
        "users",
        "taskSpec.containerSpec.user",
        "0:0",
        "service users: taskSpec.containerSpec.user is '0:0'",
    ),
    SwarmCase(
        "services-unprivileged",
        "orders",
        "taskSpec.containerSpec.capDrops",
        [],
        "service orders: taskSpec.containerSpec.capDrops lacks ALL",
    ),
    SwarmCase(
        "no-secret-env-name",
        "products",
        "taskSpec.containerSpec.env.REDIS_PASSWORD",
        "hunter2",
        "service products: taskSpec.containerSpec.env has REDIS_PASSWORD",
    ),
    SwarmCase(
        "images-local-and-pinned",
        "postgres",
        "taskSpec.containerSpec.image",
        "postgres:latest",
        "service postgres: taskSpec.containerSpec.image 'postgres:latest' is not pinned",
    ),
    SwarmCase(
        "images-local-and-pinned",
        "users-image",
        "skipPush",
        False,
        "image users-image: skipPush is not true",
    ),
    SwarmCase(
        "stack-labels",
        "users-database-password",
        "labels",
        [],
        "users-database-password: labels lack microstack.project, microstack.stack",
    ),
    SwarmCase(
        "stack-labels",
        "gateway-gateway.conf",
        "labels",
        [],
        "gateway-gateway.conf: labels lack microstack.project, microstack.stack",
    ),
    SwarmCase(
        "stack-labels",
        "orders",
        "taskSpec.containerSpec.labels",
        [],
        "orders: taskSpec.containerSpec.labels lack microstack.project",
    ),
    SwarmCase(
        "no-secret-env-value",
        "users",
        "taskSpec.containerSpec.env.CACHE_AUTH",
        GENERATED_PASSWORD,
        "service users: taskSpec.containerSpec.env CACHE_AUTH holds a generated secret",
    ),
    SwarmCase(
        "stores-on-internal-networks",
        "backend-network",
        "internal",
        False,
        "network backend-network: internal is not true",
    ),
    SwarmCase(
        "swarm-updates-roll-back",
        "products",
        "updateConfig.failureAction",
        "pause",
        "service products: updateConfig.failureAction is 'pause'",
    ),
    SwarmCase(
        "swarm-updates-roll-back",
        "postgres",
        "updateConfig.order",
        "start-first",
        "service postgres: updateConfig.order is 'start-first'",
    ),
    SwarmCase(
        "swarm-updates-roll-back",
        "redis",
        "mode.replicated.replicas",
        2,
        "service redis: mode.replicated.replicas is 2",
    ),
]


def test_every_policy_has_a_swarm_violation() -> None:
    assert {case.policy for case in SWARM_CASES} == {p.name for p in policies.POLICIES}


@pytest.mark.parametrize("case", SWARM_CASES, ids=lambda case: f"{case.policy}:{case.message}")
def test_each_policy_refuses_a_swarm_violation_naming_the_resource_and_property(
    swarm: list[PolicyResource], case: SwarmCase
) -> None:
    config = policy_config(stack_config("swarm"))
    assert violations(by_name(case.policy), swarm, config) == []

    value = case.value
    if value is GENERATED_PASSWORD:
        value = named(swarm, "redis-password").props["result"]
    resource = named(swarm, case.resource)
    changed = resource if case.path is None else with_value(resource, case.path, value)
    found = violations(by_name(case.policy), swapped(swarm, changed), config | dict(case.config))

    assert any(message.startswith(case.message) for message in found), found


def test_a_store_service_attached_beyond_the_backend_is_refused(
    swarm: list[PolicyResource],
) -> None:
    """A Swarm service names its networks by ID: the pack follows its `taskSpec`'s dependencies."""
    redis, frontend = named(swarm, "redis"), named(swarm, "frontend-network")
    changed = replaced_props(redis, dict(redis.props))
    changed.property_dependencies["taskSpec"] = [
        *redis.property_dependencies["taskSpec"],
        frontend,
    ]
    config = policy_config(stack_config("swarm"))

    found = violations(by_name("stores-on-internal-networks"), swapped(swarm, changed), config)

    assert found == [
        "service redis: taskSpec.networksAdvanceds has microstack-swarm-frontend, which is not "
        "internal: keep stores on the internal backend"
    ]
