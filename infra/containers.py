"""The `containers` target: a workload (infra/workloads.py) as one container on the engine, with
the restart, health and file rules every container shares."""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from infra.naming import StackScope
from infra.workloads import (
    Attachment,
    Healthcheck,
    MountedFile,
    PublishedPort,
    WorkloadArgs,
)

# Survive engine restarts and crashes, but stay down when an operator stops a container on purpose.
RESTART_POLICY = "unless-stopped"
# `pulumi up` returns only once every container is healthy; PostgreSQL's first start runs initdb and
# the schema, which takes a while on a cold machine.
WAIT_TIMEOUT_SECONDS = 180
# Nothing in these containers needs to gain privileges through setuid binaries.
SECURITY_OPTIONS = ["no-new-privileges:true"]


def declare_container(
    logical: str, scope: StackScope, args: WorkloadArgs, opts: pulumi.ResourceOptions
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
        uploads=[_upload(file) for file in args.files] or None,
        volumes=[
            docker.ContainerVolumeArgs(volume_name=volume.volume_name, container_path=volume.path)
            for volume in args.volumes
        ]
        or None,
        ports=[_port(port) for port in args.ports] or None,
        networks_advanced=[_network(attachment) for attachment in args.networks],
        user=args.user,
        capabilities=(
            docker.ContainerCapabilitiesArgs(drops=["ALL"]) if args.drop_all_capabilities else None
        ),
        healthcheck=_healthcheck(args.healthcheck),
        security_opts=SECURITY_OPTIONS,
        restart=RESTART_POLICY,
        # Without destroy_grace_seconds the provider removes a container by force (SIGKILL) on
        # `destroy` or replacement; with it, the process shuts down cleanly.
        stop_timeout=args.stop_seconds,
        destroy_grace_seconds=args.stop_seconds,
        wait=True,
        wait_timeout=WAIT_TIMEOUT_SECONDS,
        opts=pulumi.ResourceOptions.merge(
            pulumi.ResourceOptions(additional_secret_outputs=["uploads"]), opts
        ),
    )


def _upload(file: MountedFile) -> docker.ContainerUploadArgs:
    # A secret's content is marked secret here, whatever the caller passed, so it stays encrypted
    # in state and shows as [secret] in diffs.
    return docker.ContainerUploadArgs(
        file=file.path,
        content=pulumi.Output.secret(file.content) if file.secret else file.content,
        owner="0",
        group=file.group,
        permissions=f"{file.mode:04o}",
    )


def _healthcheck(check: Healthcheck) -> docker.ContainerHealthcheckArgs:
    return docker.ContainerHealthcheckArgs(
        tests=list(check.test),
        interval=check.interval,
        timeout=check.timeout,
        retries=check.retries,
        start_period=check.start_period,
    )


def _network(attachment: Attachment) -> docker.ContainerNetworksAdvancedArgs:
    return docker.ContainerNetworksAdvancedArgs(
        name=attachment.network.name, aliases=list(attachment.aliases)
    )


def _port(port: PublishedPort) -> docker.ContainerPortArgs:
    return docker.ContainerPortArgs(
        internal=port.internal, external=port.external, ip=port.address, protocol="tcp"
    )


def remote_image(logical: str, reference: str, opts: pulumi.ResourceOptions) -> docker.RemoteImage:
    """A registry base image, kept after `destroy`: other stacks on the engine share it."""
    return docker.RemoteImage(f"{logical}-image", name=reference, keep_locally=True, opts=opts)
