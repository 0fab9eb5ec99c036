"""Building blocks shared by every container: one place for restart, health and file rules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker

from infra.naming import StackScope

# Survive engine restarts and crashes, but stay down when an operator stops a container on purpose.
RESTART_POLICY = "unless-stopped"
# `pulumi up` returns only once every container is healthy; PostgreSQL's first start runs initdb and
# the schema, which takes a while on a cold machine.
WAIT_TIMEOUT_SECONDS = 180
# Nothing in these containers needs to gain privileges through setuid binaries.
SECURITY_OPTIONS = ["no-new-privileges:true"]
# Docker's own `docker stop` grace period. Without `destroy_grace_seconds` the provider removes a
# container by force (SIGKILL) on `destroy` or replacement; with it, the process shuts down cleanly.
STOP_SECONDS = 10


@dataclass(frozen=True)
class ContainerArgs:
    """What differs between the stack's containers; `declare_container` adds what they share."""

    image: pulumi.Input[str]
    memory_mb: int
    healthcheck: docker.ContainerHealthcheckArgs
    networks: Sequence[docker.ContainerNetworksAdvancedArgs]
    envs: Sequence[str] = ()
    command: Sequence[str] | None = None
    uploads: Sequence[docker.ContainerUploadArgs] = ()
    volumes: Sequence[docker.ContainerVolumeArgs] = ()
    ports: Sequence[docker.ContainerPortArgs] = ()
    user: str | None = None
    capabilities: docker.ContainerCapabilitiesArgs | None = None
    stop_seconds: int = STOP_SECONDS
    extra_labels: Mapping[str, str] = field(default_factory=dict)


def declare_container(
    logical: str, scope: StackScope, args: ContainerArgs, opts: pulumi.ResourceOptions
) -> docker.Container:
    """A container with the rules every microstack container shares.

    Stack-scoped name and labels, a memory limit, no privilege escalation, restart unless stopped,
    a clean stop before removal, `pulumi up` waiting until the healthcheck passes, and uploads
    marked secret (some of them are).
    """
    return docker.Container(
        logical,
        name=scope.name(logical),
        image=args.image,
        labels=[
            docker.ContainerLabelArgs(label=key, value=value)
            for key, value in scope.label_pairs(logical, args.extra_labels)
        ],
        memory=args.memory_mb,
        envs=list(args.envs) or None,
        command=list(args.command) if args.command is not None else None,
        uploads=list(args.uploads) or None,
        volumes=list(args.volumes) or None,
        ports=list(args.ports) or None,
        networks_advanced=list(args.networks),
        user=args.user,
        capabilities=args.capabilities,
        healthcheck=args.healthcheck,
        security_opts=SECURITY_OPTIONS,
        restart=RESTART_POLICY,
        stop_timeout=args.stop_seconds,
        destroy_grace_seconds=args.stop_seconds,
        wait=True,
        wait_timeout=WAIT_TIMEOUT_SECONDS,
        opts=pulumi.ResourceOptions.merge(
            pulumi.ResourceOptions(additional_secret_outputs=["uploads"]), opts
        ),
    )


def environment(variables: Mapping[str, str]) -> list[str]:
    """`KEY=VALUE` entries, sorted so that two evaluations declare identical inputs."""
    return [f"{key}={variables[key]}" for key in sorted(variables)]


def healthcheck(
    test: Sequence[str], *, start_period: str = "30s"
) -> docker.ContainerHealthcheckArgs:
    return docker.ContainerHealthcheckArgs(
        tests=list(test), interval="5s", timeout="3s", retries=5, start_period=start_period
    )


def secret_file(
    path: str, content: pulumi.Input[str], *, group: str = "0"
) -> docker.ContainerUploadArgs:
    """A file only root and one group can read (0440): secrets are files, never environment.

    The content is marked secret here, whatever the caller passed, so it stays encrypted in state
    and shows as [secret] in diffs.
    """
    return docker.ContainerUploadArgs(
        file=path,
        content=pulumi.Output.secret(content),
        owner="0",
        group=group,
        permissions="0440",
    )


def public_file(
    path: str, content: pulumi.Input[str], *, executable: bool = False
) -> docker.ContainerUploadArgs:
    return docker.ContainerUploadArgs(
        file=path,
        content=content,
        owner="0",
        group="0",
        permissions="0555" if executable else "0444",
    )


def attach(network: docker.Network, *aliases: str) -> docker.ContainerNetworksAdvancedArgs:
    return docker.ContainerNetworksAdvancedArgs(name=network.name, aliases=sorted(aliases))


def published_port(internal: int, external: int, address: str) -> docker.ContainerPortArgs:
    return docker.ContainerPortArgs(
        internal=internal, external=external, ip=address, protocol="tcp"
    )


def remote_image(logical: str, reference: str, opts: pulumi.ResourceOptions) -> docker.RemoteImage:
    """A registry base image, kept after `destroy`: other stacks on the engine share it."""
    return docker.RemoteImage(f"{logical}-image", name=reference, keep_locally=True, opts=opts)
