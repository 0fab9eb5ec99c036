"""microstack's policies, one function per rule, each message naming the resource, the property
and what to change. Property names are the engine's camelCase; types are provider tokens.

Both targets are checked: a rule about a workload reads a `docker.Container` or a Swarm
`docker.Service` through one adapter (`workload_of`), so the same facts (environment, user,
capabilities, memory limit, restart, healthcheck, waiting for health, labels, published ports) are
judged once. Swarm's image references are checked with the images; rules only Swarm has
(rollback, stores replaced stop-first) are their own policy.

Policy config (`pulumi preview --policy-pack policy --policy-pack-config <file>`), the same keys as
the stack's:
- `target` (default `containers`; `swarm` for a stack with microstack:target swarm): under
  `swarm`, with `gatewayBindAddress` 0.0.0.0 or :: (infra/config.py requires it there), a Swarm
  port listening on every address of its node is what the stack declared, so the bind-address
  advisory leaves it alone.
- `gatewayBindAddress` (default 127.0.0.1): the host address a container's port must bind to.
  A Swarm port has no host address, so it is not compared there.
- `publishPostgres` and `publishRedis` (default false): a published store is the one exception to
  "nothing internal is published", under either target.
- `imageRegistry` (default empty): the registry the swarm target pushes service images to; an
  image pushed anywhere else, or any push without it, is refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

ReportViolation = Callable[[str, str | None], None]

CONTAINER = "docker:index/container:Container"
SERVICE = "docker:index/service:Service"
SECRET = "docker:index/secret:Secret"
SERVICE_CONFIG = "docker:index/serviceConfig:ServiceConfig"
NETWORK = "docker:index/network:Network"
VOLUME = "docker:index/volume:Volume"
IMAGE = "docker:index/image:Image"
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
PRIVATE_KEY = "tls:index/privateKey:PrivateKey"

CONTAINERS_TARGET, SWARM_TARGET = "containers", "swarm"
GATEWAY = "gateway"
STORES = {"postgres": "publishPostgres", "redis": "publishRedis"}
# The network the stores live on (its `microstack.component` label, infra/network.py).
BACKEND_NETWORK = "network-backend"
STACK_LABELS = ("microstack.project", "microstack.stack")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|KEY", re.IGNORECASE)
ROOT_USERS = ("", "root", "0")
EVERY_ADDRESS = ("0.0.0.0", "::")
SERVICE_IMAGE = "taskSpec.containerSpec.image"

CONFIG_DEFAULTS: dict[str, Any] = {
    "target": CONTAINERS_TARGET,
    "gatewayBindAddress": "127.0.0.1",
    "publishPostgres": False,
    "publishRedis": False,
    "imageRegistry": "",
}
CONFIG_SCHEMA = PolicyConfigSchema(
    properties={
        "target": {
            "type": "string",
            "enum": [CONTAINERS_TARGET, SWARM_TARGET],
            "default": CONTAINERS_TARGET,
        },
        "gatewayBindAddress": {"type": "string", "default": "127.0.0.1"},
        "publishPostgres": {"type": "boolean", "default": False},
        "publishRedis": {"type": "boolean", "default": False},
        "imageRegistry": {"type": "string", "default": ""},
    }
)


def _config(args: ResourceValidationArgs | StackValidationArgs) -> dict[str, Any]:
    return CONFIG_DEFAULTS | dict(args.get_config() or {})


def _read(props: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted property path (`taskSpec.containerSpec.user`); None if absent."""
    value: Any = props
    for key in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def labels_of(props: Mapping[str, Any], path: str = "labels") -> dict[str, str]:
    return {item["label"]: item["value"] for item in _read(props, path) or []}


def component_of(props: Mapping[str, Any]) -> str:
    return labels_of(props).get("microstack.component", "")


def is_service(props: Mapping[str, Any]) -> bool:
    """Services are the workloads built from this repository (they carry their source digest)."""
    return "microstack.source-digest" in labels_of(props)


def store_key(props: Mapping[str, Any]) -> str | None:
    """The config key that publishes this store (None: not a store)."""
    return STORES.get(component_of(props))


def is_published_store(config: Mapping[str, Any], props: Mapping[str, Any]) -> bool:
    key = store_key(props)
    return key is not None and bool(config.get(key, False))


# --- workloads: a Container or a Swarm Service, read the same way ---------------------------


@dataclass(frozen=True)
class PublishedPort:
    path: str  # e.g. `ports[0]`, `endpointSpec.ports[1]`
    published: Any
    # The host address a container's port binds to ('' when unset: every interface); None for a
    # Swarm port, which has no host address.
    address: str | None
    mode: str | None  # a Swarm port's publishMode; a container's port is always a host port


def _whole(number: Any) -> Any:
    # Numbers reach a policy as protobuf doubles: 8443, not 8443.0, is what the program declared.
    return int(number) if isinstance(number, float) and number.is_integer() else number


def _container_ports(props: Mapping[str, Any]) -> list[PublishedPort]:
    return [
        PublishedPort(
            f"ports[{index}]", _whole(port.get("external")), str(port.get("ip") or ""), "host"
        )
        for index, port in enumerate(props.get("ports") or [])
    ]


def _service_ports(props: Mapping[str, Any]) -> list[PublishedPort]:
    return [
        PublishedPort(
            f"endpointSpec.ports[{index}]",
            _whole(port.get("publishedPort")),
            None,
            port.get("publishMode"),
        )
        for index, port in enumerate(_read(props, "endpointSpec.ports") or [])
    ]


@dataclass(frozen=True)
class Shape:
    """Where a workload type keeps each fact the rules read (dotted property paths)."""

    kind: str  # how messages name it
    env: str
    user: str
    capability_drops: str
    memory: str
    restart: str
    restarts: tuple[str, ...]  # restart values that bring a failed workload back, preferred first
    healthcheck: str
    waits: str  # what makes `pulumi up` wait until the workload is healthy
    networks: str
    label_lists: tuple[str, ...]
    ports: Callable[[Mapping[str, Any]], list[PublishedPort]]
    no_new_privileges: str | None  # None: the type has no such option


SHAPES = {
    CONTAINER: Shape(
        kind="container",
        env="envs",
        user="user",
        capability_drops="capabilities.drops",
        memory="memory",
        restart="restart",
        restarts=("unless-stopped", "always", "on-failure"),
        healthcheck="healthcheck.tests",
        waits="wait",
        networks="networksAdvanced",
        label_lists=("labels",),
        ports=_container_ports,
        no_new_privileges="securityOpts",
    ),
    SERVICE: Shape(
        kind="service",
        env="taskSpec.containerSpec.env",
        user="taskSpec.containerSpec.user",
        capability_drops="taskSpec.containerSpec.capDrops",
        memory="taskSpec.resources.limits.memoryBytes",
        restart="taskSpec.restartPolicy.condition",
        restarts=("any", "on-failure"),
        healthcheck="taskSpec.containerSpec.healthcheck.tests",
        # Without converge_config a Service is fire-and-forget: `pulumi up` returns at once.
        waits="convergeConfig",
        # By ID (provider's choice): a stack policy finds them through the property's dependencies.
        networks="taskSpec.networksAdvanceds",
        # The service's and its task containers': teardown and users filter either.
        label_lists=("labels", "taskSpec.containerSpec.labels"),
        ports=_service_ports,
        # Swarm has no no-new-privileges in the Engine API 1.41 (docs/architecture.md, "Targets").
        no_new_privileges=None,
    ),
}


@dataclass(frozen=True)
class Workload:
    """A Container or a Swarm Service as the rules see it."""

    name: str
    props: Mapping[str, Any]
    shape: Shape

    def read(self, path: str) -> Any:
        return _read(self.props, path)

    def where(self, path: str) -> str:
        return f"{self.shape.kind} {self.name}: {path}"

    @property
    def env(self) -> dict[str, str]:
        """Name -> value, from a container's `KEY=VALUE` list or a service's map."""
        value = self.read(self.shape.env) or []
        if isinstance(value, Mapping):
            return {str(key): str(item) for key, item in value.items()}
        return dict(str(entry).partition("=")[::2] for entry in value)

    @property
    def ports(self) -> list[PublishedPort]:
        return self.shape.ports(self.props)

    @property
    def waits(self) -> bool:
        value = self.read(self.shape.waits)
        return value is True or (isinstance(value, Mapping) and bool(value))


def workload_of(resource: ResourceValidationArgs | PolicyResource) -> Workload | None:
    """The resource as a workload; None for anything that runs no process."""
    shape = SHAPES.get(resource.resource_type)
    return Workload(resource.name, resource.props, shape) if shape else None


# --- resource policies ---------------------------------------------------------------------


def validate_published_ports(args: ResourceValidationArgs, report: ReportViolation) -> None:
    workload = workload_of(args)
    if workload is None:
        return
    config = _config(args)
    allowed = component_of(args.props) == GATEWAY or is_published_store(config, args.props)
    for port in workload.ports:
        where = workload.where(port.path)
        if not allowed:
            key = store_key(args.props)
            fix = f"set microstack:{key} to true or drop the port" if key else "remove it"
            report(f"{where} publishes {port.published}: only the gateway publishes; {fix}", None)
        elif port.mode != "host":
            report(
                f"{where}.publishMode is {port.mode!r}: publish in host mode (the ingress "
                "routing mesh needs IPVS and accepts on every node of the swarm)",
                None,
            )
        elif port.address is not None and port.address != config["gatewayBindAddress"]:
            report(
                f"{where}.ip is {port.address!r}: publish on the configured bind address "
                f"{config['gatewayBindAddress']!r} (microstack:gatewayBindAddress)",
                None,
            )


def swarm_declared(config: Mapping[str, Any]) -> bool:
    """The policy config says what infra/config.py demands of a swarm stack: its ports listen on
    every address of their node, and gatewayBindAddress says so."""
    return config["target"] == SWARM_TARGET and config["gatewayBindAddress"] in EVERY_ADDRESS


def validate_bind_address(args: ResourceValidationArgs, report: ReportViolation) -> None:
    workload = workload_of(args)
    if workload is None:
        return
    declared = swarm_declared(_config(args))
    for port in workload.ports:
        where = workload.where(port.path)
        if port.address is None and not declared:
            report(
                f"{where} listens on every address of its node (a Swarm port has no host "
                "address): declare target swarm and gatewayBindAddress 0.0.0.0 or :: in the "
                "policy config if you mean it",
                None,
            )
        elif port.address in (*EVERY_ADDRESS, ""):
            report(
                f"{where}.ip {port.address!r} listens on every interface: set "
                "microstack:gatewayBindAddress to 127.0.0.1 unless you mean it",
                None,
            )


def validate_hardening(args: ResourceValidationArgs, report: ReportViolation) -> None:
    workload = workload_of(args)
    if workload is None:
        return
    shape, read, where = workload.shape, workload.read, workload.where
    if not read(shape.healthcheck):
        report(f"{where(shape.healthcheck)} is missing: declare a healthcheck test", None)
    if not read(shape.memory):
        report(f"{where(shape.memory)} is not set: give it a memory limit", None)
    if read(shape.restart) not in shape.restarts:
        report(f"{where(shape.restart)} is {read(shape.restart)!r}: use {shape.restarts[0]}", None)
    security = shape.no_new_privileges
    if security and "no-new-privileges:true" not in (read(security) or []):
        report(f"{where(security)} lacks no-new-privileges:true: add it", None)
    if not workload.waits:
        report(
            f"{where(shape.waits)} is {read(shape.waits)!r}: make `pulumi up` wait until it "
            "is healthy",
            None,
        )


def validate_services_unprivileged(args: ResourceValidationArgs, report: ReportViolation) -> None:
    workload = workload_of(args)
    if workload is None or not is_service(args.props):
        return
    shape = workload.shape
    user = str(workload.read(shape.user) or "")
    if user.split(":")[0] in ROOT_USERS:
        report(f"{workload.where(shape.user)} is {user!r}: run as a non-root uid (10001:0)", None)
    if "ALL" not in (workload.read(shape.capability_drops) or []):
        report(f"{workload.where(shape.capability_drops)} lacks ALL: drop every capability", None)


def secret_env_names(env: Mapping[str, str]) -> Iterable[str]:
    return (name for name in env if SECRET_NAME.search(name) and not name.endswith("_FILE"))


def validate_no_secret_env_name(args: ResourceValidationArgs, report: ReportViolation) -> None:
    workload = workload_of(args)
    if workload is None:
        return
    for name in secret_env_names(workload.env):
        report(
            f"{workload.where(workload.shape.env)} has {name}: deliver the secret as a file "
            f"and pass {name}_FILE instead",
            None,
        )


def is_pinned(reference: str) -> bool:
    """A digest, an image ID, or a tag other than latest."""
    if "@sha256:" in reference or reference.startswith("sha256:"):
        return True
    last = reference.rsplit("/", 1)[-1]
    return ":" in last and last.rsplit(":", 1)[1] not in ("", "latest")


def _validate_build(args: ResourceValidationArgs, report: ReportViolation) -> None:
    registry = str(_config(args)["imageRegistry"]).rstrip("/")
    image_name = str(args.props.get("imageName") or "")
    pushed = args.props.get("skipPush") is not True
    if pushed and not (registry and image_name.startswith(f"{registry}/")):
        report(
            f"image {args.name}: skipPush is not true for {image_name!r}: local images are "
            "never pushed, except to the swarm target's imageRegistry (policy config)",
            None,
        )
    for key, value in ((args.props.get("build") or {}).get("args") or {}).items():
        if key.endswith("_IMAGE") and isinstance(value, str) and not is_pinned(value):
            report(
                f"image {args.name}: build.args.{key} {value!r} is not pinned: "
                "use a tag other than latest or a digest",
                None,
            )


def _validate_reference(where: str, reference: str, report: ReportViolation) -> None:
    if not is_pinned(reference):
        report(
            f"{where} {reference!r} is not pinned: use a tag other than latest or an @sha256 "
            "digest",
            None,
        )


def validate_images(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == IMAGE:
        _validate_build(args, report)
    elif args.resource_type == REMOTE_IMAGE:
        _validate_reference(f"image {args.name}: name", str(args.props.get("name") or ""), report)
    elif args.resource_type == SERVICE:
        # A container runs the image ID its image resource built or pulled (those are checked
        # above); each node a Service lands on resolves the reference itself. A local build's tag
        # (its ID rides along as a task label), an image ID and a repo digest all pass.
        reference = str(_read(args.props, SERVICE_IMAGE) or "")
        _validate_reference(f"service {args.name}: {SERVICE_IMAGE}", reference, report)


LABEL_LISTS = {
    NETWORK: ("labels",),
    VOLUME: ("labels",),
    SECRET: ("labels",),
    SERVICE_CONFIG: ("labels",),
} | {kind: shape.label_lists for kind, shape in SHAPES.items()}


def validate_stack_labels(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for path in LABEL_LISTS.get(args.resource_type, ()):
        labels = labels_of(args.props, path)
        missing = [label for label in STACK_LABELS if label not in labels]
        if missing:
            report(
                f"{args.name}: {path} lack {', '.join(missing)}: use StackScope.label_pairs",
                None,
            )


def validate_swarm_updates(args: ResourceValidationArgs, report: ReportViolation) -> None:
    workload = workload_of(args)
    if workload is None or args.resource_type != SERVICE:
        return
    action = workload.read("updateConfig.failureAction")
    if action != "rollback":
        report(
            f"{workload.where('updateConfig.failureAction')} is {action!r}: set rollback, so a "
            "failed update returns to the tasks that worked",
            None,
        )
    if store_key(args.props) is not None:
        _validate_store_updates(workload, report)


def _validate_store_updates(workload: Workload, report: ReportViolation) -> None:
    # Two PostgreSQL (or Redis) processes on one data directory corrupt it.
    replicas = workload.read("mode.replicated.replicas")
    if replicas != 1:
        report(f"{workload.where('mode.replicated.replicas')} is {replicas!r}: run 1 task", None)
    order = workload.read("updateConfig.order")
    if order != "stop-first":
        report(
            f"{workload.where('updateConfig.order')} is {order!r}: replace a store stop-first",
            None,
        )


# --- stack policies ------------------------------------------------------------------------


def generated_secrets(resources: Iterable[PolicyResource]) -> set[str]:
    values: set[str] = set()
    for resource in resources:
        if resource.resource_type == RANDOM_PASSWORD and resource.props.get("result"):
            values.add(str(resource.props["result"]))
        if resource.resource_type == PRIVATE_KEY and resource.props.get("privateKeyPem"):
            values.add(str(resource.props["privateKeyPem"]))
    return values


def validate_no_secret_env_value(args: StackValidationArgs, report: ReportViolation) -> None:
    secrets = generated_secrets(args.resources)
    for resource in args.resources:
        workload = workload_of(resource)
        if workload is None:
            continue
        for name, value in workload.env.items():
            if value and value in secrets:
                report(
                    f"{workload.where(workload.shape.env)} {name} holds a generated secret: "
                    "deliver it as a file and pass its path",
                    resource.urn,
                )


def attached_networks(resource: PolicyResource) -> list[str]:
    """The names of the networks a workload joins.

    A container names them; a Swarm service gives their IDs, which no resource's props hold, so
    they are the networks its `taskSpec` depends on (it names no network anywhere else).
    """
    if resource.resource_type == CONTAINER:
        return [n.get("name") for n in resource.props.get("networksAdvanced") or []]
    return [
        str(dependency.props.get("name"))
        for dependency in resource.property_dependencies.get("taskSpec", [])
        if dependency.resource_type == NETWORK
    ]


def validate_internal_networks(args: StackValidationArgs, report: ReportViolation) -> None:
    config = _config(args)
    networks = [r for r in args.resources if r.resource_type == NETWORK]
    internal = {r.props.get("name"): bool(r.props.get("internal")) for r in networks}
    for network in networks:
        if component_of(network.props) == BACKEND_NETWORK and not internal[network.props["name"]]:
            report(
                f"network {network.name}: internal is not true: the stores' backend network "
                "must be internal (bridge or overlay)",
                network.urn,
            )
    for resource in args.resources:
        workload = workload_of(resource)
        if workload is None or is_published_store(config, resource.props):
            continue
        joined = attached_networks(resource)
        if store_key(resource.props) is not None:
            for name in joined:
                if not internal.get(name, False):
                    report(
                        f"{workload.where(workload.shape.networks)} has {name}, which is not "
                        "internal: keep stores on the internal backend",
                        resource.urn,
                    )
        if workload.ports and any(internal.get(name, False) for name in joined):
            report(
                f"{workload.shape.kind} {resource.name}: publishes ports while on an internal "
                "network: remove its ports",
                resource.urn,
            )


def _resource(name: str, description: str, validate: Any, level: EnforcementLevel) -> Any:
    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=level,
        config_schema=CONFIG_SCHEMA,
    )


MANDATORY, ADVISORY = EnforcementLevel.MANDATORY, EnforcementLevel.ADVISORY
POLICIES: list[Any] = [
    _resource(
        "only-gateway-publishes",
        "Only the gateway (and opted-in stores) publish: on the bind address, or in Swarm's "
        "host mode",
        validate_published_ports,
        MANDATORY,
    ),
    _resource(
        "bind-address-not-all-interfaces",
        "Warn when a port listens on every interface, unless the policy config declares a swarm "
        "stack",
        validate_bind_address,
        ADVISORY,
    ),
    _resource(
        "container-hardening",
        "Containers and Swarm services: healthcheck, memory limit, restart, waiting for health; "
        "no-new-privileges for containers",
        validate_hardening,
        MANDATORY,
    ),
    _resource(
        "services-unprivileged",
        "Services run as non-root with every capability dropped",
        validate_services_unprivileged,
        MANDATORY,
    ),
    _resource(
        "no-secret-env-name",
        "No secret-looking environment variable without _FILE",
        validate_no_secret_env_name,
        MANDATORY,
    ),
    _resource(
        "images-local-and-pinned",
        "Local images pushed nowhere but the configured registry; images pinned",
        validate_images,
        MANDATORY,
    ),
    _resource(
        "stack-labels",
        "Every Docker object carries the stack labels",
        validate_stack_labels,
        MANDATORY,
    ),
    _resource(
        "swarm-updates-roll-back",
        "Swarm services roll a failed update back; stores run one task, replaced stop-first",
        validate_swarm_updates,
        MANDATORY,
    ),
    StackValidationPolicy(
        name="no-secret-env-value",
        description="No environment variable holds a generated password or key",
        validate=validate_no_secret_env_value,
        enforcement_level=MANDATORY,
    ),
    StackValidationPolicy(
        name="stores-on-internal-networks",
        description="PostgreSQL and Redis only on internal networks; nothing internal published",
        validate=validate_internal_networks,
        enforcement_level=MANDATORY,
        config_schema=CONFIG_SCHEMA,
    ),
]
