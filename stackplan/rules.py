"""When a changed input updates a resource in place and when it replaces it: one table, each rule
with the source it was read from. An input with no rule here is reported as "update (provider
decides)": the plan never guesses.

Sources (read from the providers' code, the versions current when this table was written):
- pulumi-docker bridges the Terraform provider kreuzwerker/terraform-provider-docker for
  Container, Network, Volume and RemoteImage; a bridged input replaces the resource exactly when
  the Terraform schema marks it `ForceNew`.
- pulumi-docker's `Image` is its own (native) resource: `dockerNativeProvider.Diff` reports every
  changed input as an update and never asks for a replacement (the image is rebuilt in place).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Effect(StrEnum):
    REPLACE = "replace"
    UPDATE = "update"
    # A type-wide rule: a replacement deletes the old resource before creating the new one.
    DELETE_BEFORE_REPLACE = "delete-before-replace"


@dataclass(frozen=True)
class Rule:
    resource_type: str
    inputs: tuple[str, ...]  # the engine's camelCase names; "*" is every input
    effect: Effect
    source: str


CONTAINER = "docker:index/container:Container"
NETWORK = "docker:index/network:Network"
VOLUME = "docker:index/volume:Volume"
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
IMAGE = "docker:index/image:Image"
SERVICE = "docker:index/service:Service"
SECRET = "docker:index/secret:Secret"
SERVICE_CONFIG = "docker:index/serviceConfig:ServiceConfig"

_TF = "kreuzwerker/terraform-provider-docker internal/provider/"
_CONTAINER_SCHEMA = f"{_TF}resource_docker_container.go"

REPLACE_RULES: tuple[Rule, ...] = (
    Rule(
        CONTAINER,
        (),
        Effect.DELETE_BEFORE_REPLACE,
        "pulumi/pulumi-docker provider/resources.go: docker_container DeleteBeforeReplace: true",
    ),
    Rule(
        CONTAINER,
        (
            "name",
            "image",
            "envs",
            "labels",
            "uploads",
            "networksAdvanced",
            "ports",
            "user",
            "capabilities",
            "securityOpts",
            "stopTimeout",
            "stopSignal",
            "volumes",
            "mounts",
            "command",
            "entrypoint",
            "hostname",
            "domainname",
            "workingDir",
            "logDriver",
            "logOpts",
            "readOnly",
            "privileged",
            "devices",
            "hosts",
            "ulimits",
            "sysctls",
            "groupAdds",
            "shmSize",
            "runtime",
            "networkMode",
            "publishAllPorts",
            "dns",
            "dnsOpts",
            "dnsSearches",
            "ipcMode",
            "pidMode",
            "usernsMode",
            "tty",
            "stdinOpen",
            "storageOpts",
            "gpus",
            "cpus",
            "cgroupnsMode",
        ),
        Effect.REPLACE,
        f"{_CONTAINER_SCHEMA}: ForceNew",
    ),
    Rule(
        CONTAINER,
        ("restart", "maxRetryCount", "cpuShares", "memory", "cpuSet", "memorySwap"),
        Effect.UPDATE,
        f"{_TF}resource_docker_container_funcs.go: resourceDockerContainerUpdate "
        "applies these to the running container (docker update)",
    ),
    Rule(
        CONTAINER,
        (
            "wait",
            "waitTimeout",
            "destroyGraceSeconds",
            "mustRun",
            "start",
            "rm",
            "attach",
            "logs",
            "removeVolumes",
            "containerReadRefreshTimeoutMilliseconds",
        ),
        Effect.UPDATE,
        f"{_CONTAINER_SCHEMA}: not ForceNew; settings of the provider itself, "
        "the running container is untouched",
    ),
    Rule(
        CONTAINER,
        ("healthcheck", "init", "tmpfs", "cpuPeriod", "cpuQuota"),
        Effect.UPDATE,
        f"{_CONTAINER_SCHEMA}: not ForceNew, and resourceDockerContainerUpdate does not apply "
        "it: the running container keeps the old value until it is recreated",
    ),
    Rule(
        NETWORK,
        ("*",),
        Effect.REPLACE,
        f"{_TF}resource_docker_network.go: every argument ForceNew (no Update)",
    ),
    Rule(
        VOLUME,
        ("*",),
        Effect.REPLACE,
        f"{_TF}resource_docker_volume.go: every argument ForceNew (no Update)",
    ),
    Rule(
        REMOTE_IMAGE,
        ("name", "pullTriggers", "triggers"),
        Effect.REPLACE,
        f"{_TF}resource_docker_image.go: ForceNew",
    ),
    Rule(
        REMOTE_IMAGE,
        ("keepLocally", "forceRemove"),
        Effect.UPDATE,
        f"{_TF}resource_docker_image.go: not ForceNew",
    ),
    Rule(
        SERVICE,
        ("name", "auth"),
        Effect.REPLACE,
        f"{_TF}resource_docker_service.go: ForceNew",
    ),
    Rule(
        SERVICE,
        (
            "labels",
            "mode",
            "taskSpec",
            "endpointSpec",
            "updateConfig",
            "rollbackConfig",
            "convergeConfig",
        ),
        Effect.UPDATE,
        f"{_TF}resource_docker_service.go: not ForceNew (only taskSpec.containerSpec.hosts is, "
        "which this program never sets); resourceDockerServiceUpdate sends the new spec and "
        "Swarm rolls the tasks as updateConfig says",
    ),
    Rule(
        SECRET,
        ("*",),
        Effect.REPLACE,
        f"{_TF}resource_docker_secret.go: every argument ForceNew (no Update)",
    ),
    Rule(
        SERVICE_CONFIG,
        ("*",),
        Effect.REPLACE,
        f"{_TF}resource_docker_config.go: every argument ForceNew (no Update)",
    ),
    Rule(
        IMAGE,
        ("*",),
        Effect.UPDATE,
        "pulumi/pulumi-docker provider/provider.go: dockerNativeProvider.Diff reports "
        "updates only (the image is rebuilt in place)",
    ),
)


def rule_for(resource_type: str, input_name: str, rules: tuple[Rule, ...]) -> Rule | None:
    """The rule for one top-level input of a type, an exact name before a "*"."""
    candidates = [
        rule
        for rule in rules
        if rule.resource_type == resource_type and rule.effect != Effect.DELETE_BEFORE_REPLACE
    ]
    for rule in candidates:
        if input_name in rule.inputs:
            return rule
    for rule in candidates:
        if "*" in rule.inputs:
            return rule
    return None


def delete_before_replace_rule(resource_type: str, rules: tuple[Rule, ...]) -> Rule | None:
    for rule in rules:
        if rule.resource_type == resource_type and rule.effect == Effect.DELETE_BEFORE_REPLACE:
            return rule
    return None
