"""microstack's policies, one function per rule, each message naming the resource, the property
and what to change. Property names are the engine's camelCase; types are provider tokens.

Policy config (`pulumi preview --policy-pack policy --policy-pack-config <file>`), the same keys as
the stack's: `gatewayBindAddress` (default 127.0.0.1), `publishPostgres` and `publishRedis`
(default false). A published store is the one exception to "nothing internal is published".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
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
NETWORK = "docker:index/network:Network"
VOLUME = "docker:index/volume:Volume"
IMAGE = "docker:index/image:Image"
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
PRIVATE_KEY = "tls:index/privateKey:PrivateKey"

GATEWAY = "gateway"
STORES = {"postgres": "publishPostgres", "redis": "publishRedis"}
STACK_LABELS = ("microstack.project", "microstack.stack")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|KEY", re.IGNORECASE)
RESTART_POLICIES = ("always", "unless-stopped", "on-failure")
ROOT_USERS = ("", "root", "0")

CONFIG_DEFAULTS: dict[str, Any] = {
    "gatewayBindAddress": "127.0.0.1",
    "publishPostgres": False,
    "publishRedis": False,
}
CONFIG_SCHEMA = PolicyConfigSchema(
    properties={
        "gatewayBindAddress": {"type": "string", "default": "127.0.0.1"},
        "publishPostgres": {"type": "boolean", "default": False},
        "publishRedis": {"type": "boolean", "default": False},
    }
)


def _config(args: ResourceValidationArgs | StackValidationArgs) -> dict[str, Any]:
    return CONFIG_DEFAULTS | dict(args.get_config() or {})


def labels_of(props: Mapping[str, Any]) -> dict[str, str]:
    return {item["label"]: item["value"] for item in props.get("labels") or []}


def component_of(props: Mapping[str, Any]) -> str:
    return labels_of(props).get("microstack.component", "")


def is_service(props: Mapping[str, Any]) -> bool:
    """Services are the containers built from this repository (they carry their source digest)."""
    return "microstack.source-digest" in labels_of(props)


# --- resource policies ---------------------------------------------------------------------


def validate_published_ports(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != CONTAINER:
        return
    config = _config(args)
    component = component_of(args.props)
    allowed = component == GATEWAY or bool(config.get(STORES.get(component, ""), False))
    for index, port in enumerate(args.props.get("ports") or []):
        where = f"container {args.name}: ports[{index}]"
        if not allowed:
            key = STORES.get(component)
            fix = f"set microstack:{key} to true or drop the port" if key else "remove it"
            report(
                f"{where} publishes {port.get('external')}: only the gateway publishes; {fix}", None
            )
        elif port.get("ip") != config["gatewayBindAddress"]:
            report(
                f"{where}.ip is {port.get('ip')!r}: publish on the configured bind address "
                f"{config['gatewayBindAddress']!r} (microstack:gatewayBindAddress)",
                None,
            )


def validate_bind_address(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != CONTAINER:
        return
    for index, port in enumerate(args.props.get("ports") or []):
        if port.get("ip") in ("0.0.0.0", "::", "", None):
            report(
                f"container {args.name}: ports[{index}].ip {port.get('ip')!r} listens on every "
                "interface: set microstack:gatewayBindAddress to 127.0.0.1 unless you mean it",
                None,
            )


def validate_container_hardening(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != CONTAINER:
        return
    props, name = args.props, args.name
    if not (props.get("healthcheck") or {}).get("tests"):
        report(f"container {name}: healthcheck is missing: declare a healthcheck test", None)
    if not props.get("memory"):
        report(f"container {name}: memory is not set: give it a memory limit in MB", None)
    if props.get("restart") not in RESTART_POLICIES:
        report(f"container {name}: restart is {props.get('restart')!r}: use unless-stopped", None)
    if "no-new-privileges:true" not in (props.get("securityOpts") or []):
        report(f"container {name}: securityOpts lacks no-new-privileges:true: add it", None)
    if props.get("wait") is not True:
        report(f"container {name}: wait is not true: set wait=True so up waits for health", None)


def validate_services_unprivileged(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != CONTAINER or not is_service(args.props):
        return
    user = str(args.props.get("user") or "")
    if user.split(":")[0] in ROOT_USERS:
        report(f"container {args.name}: user is {user!r}: run as a non-root uid (10001:0)", None)
    drops = (args.props.get("capabilities") or {}).get("drops") or []
    if "ALL" not in drops:
        report(f"container {args.name}: capabilities.drops lacks ALL: drop every capability", None)


def secret_env_names(props: Mapping[str, Any]) -> Iterable[str]:
    for entry in props.get("envs") or []:
        name = str(entry).split("=", 1)[0]
        if SECRET_NAME.search(name) and not name.endswith("_FILE"):
            yield name


def validate_no_secret_env_name(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != CONTAINER:
        return
    for name in secret_env_names(args.props):
        report(
            f"container {args.name}: envs has {name}: deliver the secret as a file "
            f"(uploads) and pass {name}_FILE instead",
            None,
        )


def is_pinned(reference: str) -> bool:
    if "@sha256:" in reference:
        return True
    last = reference.rsplit("/", 1)[-1]
    return ":" in last and last.rsplit(":", 1)[1] not in ("", "latest")


def validate_images(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == IMAGE:
        if args.props.get("skipPush") is not True:
            report(f"image {args.name}: skipPush is not true: local images are never pushed", None)
        for key, value in ((args.props.get("build") or {}).get("args") or {}).items():
            if key.endswith("_IMAGE") and isinstance(value, str) and not is_pinned(value):
                report(
                    f"image {args.name}: build.args.{key} {value!r} is not pinned: "
                    "use a tag other than latest or a digest",
                    None,
                )
    elif args.resource_type == REMOTE_IMAGE:
        reference = str(args.props.get("name") or "")
        if not is_pinned(reference):
            report(
                f"image {args.name}: name {reference!r} is not pinned: "
                "use a tag other than latest or an @sha256 digest",
                None,
            )


def validate_stack_labels(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in (CONTAINER, NETWORK, VOLUME):
        return
    missing = [label for label in STACK_LABELS if label not in labels_of(args.props)]
    if missing:
        report(f"{args.name}: labels lack {', '.join(missing)}: use StackScope.label_list", None)


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
        if resource.resource_type != CONTAINER:
            continue
        for entry in resource.props.get("envs") or []:
            name, _, value = str(entry).partition("=")
            if value and value in secrets:
                report(
                    f"container {resource.name}: envs {name} holds a generated secret: "
                    "deliver it as a file and pass its path",
                    resource.urn,
                )


def validate_internal_networks(args: StackValidationArgs, report: ReportViolation) -> None:
    config = _config(args)
    internal = {
        r.props.get("name"): bool(r.props.get("internal"))
        for r in args.resources
        if r.resource_type == NETWORK
    }
    for resource in args.resources:
        if resource.resource_type != CONTAINER:
            continue
        component = component_of(resource.props)
        opted_in = bool(config.get(STORES.get(component, ""), False))
        networks = [n.get("name") for n in resource.props.get("networksAdvanced") or []]
        if component in STORES and not opted_in:
            for network in networks:
                if not internal.get(network, False):
                    report(
                        f"container {resource.name}: networksAdvanced has {network}, which "
                        "is not internal: keep stores on the internal backend",
                        resource.urn,
                    )
        on_internal = any(internal.get(network, False) for network in networks)
        if on_internal and resource.props.get("ports") and not opted_in:
            report(
                f"container {resource.name}: publishes ports while on an internal network: "
                "remove its ports",
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
        "Only the gateway (and opted-in stores) publish, on the bind address",
        validate_published_ports,
        MANDATORY,
    ),
    _resource(
        "bind-address-not-all-interfaces",
        "Warn when a port listens on 0.0.0.0",
        validate_bind_address,
        ADVISORY,
    ),
    _resource(
        "container-hardening",
        "Healthcheck, memory, restart, no-new-privileges, wait",
        validate_container_hardening,
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
        "Local images never pushed; base images pinned",
        validate_images,
        MANDATORY,
    ),
    _resource(
        "stack-labels",
        "Every Docker object carries the stack labels",
        validate_stack_labels,
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
