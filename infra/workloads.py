"""What a workload of the stack is, said once for both targets: its image, files, health, networks,
volumes, ports and limits.

infra/containers.py turns a `WorkloadArgs` into a `docker.Container`, infra/swarm.py into a Swarm
`docker.Service` (with `docker.Secret`s and `docker.ServiceConfig`s for its files). The tiers
(data stores, services, gateway) describe their workloads here and never name a target's types.
No target-specific pulumi-docker `*Args` in this module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker

# Docker's own `docker stop` grace period: the process shuts down cleanly before removal.
STOP_SECONDS = 10


@dataclass(frozen=True)
class Healthcheck:
    test: Sequence[str]
    start_period: str = "30s"
    interval: str = "5s"
    timeout: str = "3s"
    retries: int = 5


@dataclass(frozen=True)
class MountedFile:
    """A file placed in the workload: an upload into a container, a Swarm config or secret.

    A secret file is 0440 root:`group` (the process reads it through its group); its content is
    marked secret wherever it goes.
    """

    path: str
    content: pulumi.Input[str]
    secret: bool = False
    group: str = "0"
    executable: bool = False

    @property
    def mode(self) -> int:
        if self.secret:
            return 0o440
        return 0o555 if self.executable else 0o444


@dataclass(frozen=True)
class Attachment:
    """A network and the DNS names the workload answers to on it."""

    network: docker.Network
    aliases: Sequence[str] = ()


@dataclass(frozen=True)
class VolumeMount:
    volume_name: pulumi.Input[str]
    path: str


@dataclass(frozen=True)
class PublishedPort:
    internal: int
    external: int
    address: str  # the host address (containers); a Swarm port listens on every node address


@dataclass(frozen=True)
class WorkloadArgs:
    """What differs between the stack's workloads; each target adds what they share."""

    image: pulumi.Input[str]
    memory_mb: int
    healthcheck: Healthcheck
    networks: Sequence[Attachment]
    envs: Sequence[str] = ()
    command: Sequence[str] | None = None
    files: Sequence[MountedFile] = ()
    volumes: Sequence[VolumeMount] = ()
    ports: Sequence[PublishedPort] = ()
    user: str | None = None
    drop_all_capabilities: bool = False
    stop_seconds: int = STOP_SECONDS
    extra_labels: Mapping[str, str] = field(default_factory=dict)


def environment(variables: Mapping[str, str]) -> list[str]:
    """`KEY=VALUE` entries, sorted so that two evaluations declare identical inputs."""
    return [f"{key}={variables[key]}" for key in sorted(variables)]


def healthcheck(test: Sequence[str], *, start_period: str = "30s") -> Healthcheck:
    return Healthcheck(test=list(test), start_period=start_period)


def secret_file(path: str, content: pulumi.Input[str], *, group: str = "0") -> MountedFile:
    """A file only root and one group can read (0440): secrets are files, never environment."""
    return MountedFile(path=path, content=content, secret=True, group=group)


def public_file(path: str, content: pulumi.Input[str], *, executable: bool = False) -> MountedFile:
    return MountedFile(path=path, content=content, executable=executable)


def attach(network: docker.Network, *aliases: str) -> Attachment:
    return Attachment(network=network, aliases=sorted(aliases))


def published_port(internal: int, external: int, address: str) -> PublishedPort:
    return PublishedPort(internal=internal, external=external, address=address)
