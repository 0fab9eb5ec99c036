"""The `swarm` target: a workload (infra/workloads.py) as a Swarm service, its files as Swarm
configs and secrets.

What every service shares: stack-scoped names and labels (on the service and on its task
containers), memory limits and reservations, restart on any exit, a clean stop, a healthcheck that
gates rolling updates, an update that rolls back on failure, and `pulumi up` waiting until the
tasks have converged (without `converge_config` a Service is fire-and-forget).
"""

from __future__ import annotations

import base64
import hashlib
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_docker as docker

from infra.config import Settings
from infra.naming import StackScope
from infra.workloads import MountedFile, WorkloadArgs

# A replacement task starts (and turns healthy) before the old one stops: no capacity is lost.
START_FIRST = "start-first"
# For what must never run twice at once: a store on its one volume, a gateway on its host ports.
STOP_FIRST = "stop-first"
# PostgreSQL and Redis run where their volumes are: the node an operator labels
# (`docker node update --label-add microstack.stores=true <node>`).
STORES_CONSTRAINT = "node.labels.microstack.stores==true"
# A host-mode port is opened on the node the task runs on: clients dial a manager's address.
GATEWAY_CONSTRAINT = "node.role==manager"
# How long `pulumi up` waits for a service's tasks: a rolling update of 16 replicas, each waiting
# for its healthcheck, fits; a failure is rolled back within it.
CONVERGE_TIMEOUT = "10m"
# After each task is replaced, Swarm watches it this long; a failure then rolls the update back.
MONITOR = "20s"
_MIB = 1024 * 1024
# Swarm names configs and secrets with at most 64 characters.
_DIGEST_CHARACTERS = 12


@dataclass(frozen=True)
class SwarmOptions:
    """The settings only the swarm target reads."""

    endpoint_mode: str  # vip | dnsrr
    image_registry: str | None

    @classmethod
    def of(cls, settings: Settings) -> SwarmOptions | None:
        """None for the containers target."""
        if not settings.swarm:
            return None
        return cls(
            endpoint_mode=settings.swarm_endpoint_mode, image_registry=settings.image_registry
        )


@dataclass(frozen=True)
class Deployment:
    """How Swarm runs and replaces a service's tasks."""

    replicas: int = 1
    order: str = START_FIRST
    constraints: Sequence[str] = ()
    # The image ID: a rebuilt local image keeps its tag, and only a changed spec rolls the tasks.
    image_id: pulumi.Input[str] | None = None


def declare_service(
    logical: str,
    scope: StackScope,
    args: WorkloadArgs,
    options: SwarmOptions,
    deployment: Deployment,
    opts: pulumi.ResourceOptions,
) -> docker.Service:
    """`logical` as a Swarm service named `<project>-<stack>-<logical>`.

    Its files become configs and secrets declared next to it (same parent), mounted at the paths
    the containers target uploads them to, so the processes read the same `*_FILE` contract.
    """
    labels = scope.label_pairs(logical, args.extra_labels)
    container_labels = [
        docker.ServiceTaskSpecContainerSpecLabelArgs(label=key, value=value)
        for key, value in labels
    ]
    if deployment.image_id is not None:
        container_labels.append(
            docker.ServiceTaskSpecContainerSpecLabelArgs(
                label="microstack.image-id", value=deployment.image_id
            )
        )
    secrets = [_secret(logical, scope, file, opts) for file in args.files if file.secret]
    configs = [_config(logical, scope, file, opts) for file in args.files if not file.secret]
    return docker.Service(
        logical,
        name=scope.name(logical),
        labels=[docker.ServiceLabelArgs(label=key, value=value) for key, value in labels],
        mode=docker.ServiceModeArgs(
            replicated=docker.ServiceModeReplicatedArgs(replicas=deployment.replicas)
        ),
        task_spec=docker.ServiceTaskSpecArgs(
            container_spec=docker.ServiceTaskSpecContainerSpecArgs(
                image=args.image,
                # `args` is the image's CMD (the containers target's `command`); the image's
                # entrypoint stays, as it does for a container.
                args=list(args.command) if args.command is not None else None,
                env=_environment(args.envs),
                user=args.user,
                cap_drops=["ALL"] if args.drop_all_capabilities else None,
                labels=container_labels,
                healthcheck=docker.ServiceTaskSpecContainerSpecHealthcheckArgs(
                    tests=list(args.healthcheck.test),
                    interval=args.healthcheck.interval,
                    timeout=args.healthcheck.timeout,
                    retries=args.healthcheck.retries,
                    start_period=args.healthcheck.start_period,
                ),
                mounts=[
                    docker.ServiceTaskSpecContainerSpecMountArgs(
                        type="volume", source=volume.volume_name, target=volume.path
                    )
                    for volume in args.volumes
                ]
                or None,
                secrets=secrets or None,
                configs=configs or None,
                stop_grace_period=f"{args.stop_seconds}s",
            ),
            networks_advanceds=[
                # By ID: the provider deprecates `name` here.
                docker.ServiceTaskSpecNetworksAdvancedArgs(
                    id=attachment.network.id, aliases=list(attachment.aliases)
                )
                for attachment in args.networks
            ],
            resources=docker.ServiceTaskSpecResourcesArgs(
                limits=docker.ServiceTaskSpecResourcesLimitsArgs(
                    memory_bytes=args.memory_mb * _MIB
                ),
                # Half the limit is reserved: the scheduler places no task on a node that cannot
                # hold it at rest, and the limit leaves room for peaks.
                reservation=docker.ServiceTaskSpecResourcesReservationArgs(
                    memory_bytes=args.memory_mb * _MIB // 2
                ),
            ),
            # Any exit, a failed healthcheck included: Swarm starts a replacement task.
            restart_policy=docker.ServiceTaskSpecRestartPolicyArgs(
                condition="any", delay="5s", window="60s"
            ),
            placement=(
                docker.ServiceTaskSpecPlacementArgs(constraints=list(deployment.constraints))
                if deployment.constraints
                else None
            ),
        ),
        endpoint_spec=docker.ServiceEndpointSpecArgs(
            mode=options.endpoint_mode,
            # Host mode: the routing mesh (ingress) needs IPVS and would accept on every node.
            ports=[
                docker.ServiceEndpointSpecPortArgs(
                    target_port=port.internal,
                    published_port=port.external,
                    protocol="tcp",
                    publish_mode="host",
                )
                for port in args.ports
            ]
            or None,
        ),
        # One task at a time, each watched for MONITOR; a failure rolls the update back, and a
        # failed rollback pauses for an operator.
        update_config=docker.ServiceUpdateConfigArgs(
            parallelism=1,
            delay="5s",
            monitor=MONITOR,
            max_failure_ratio="0",
            order=deployment.order,
            failure_action="rollback",
        ),
        rollback_config=docker.ServiceRollbackConfigArgs(
            parallelism=1,
            delay="5s",
            monitor=MONITOR,
            max_failure_ratio="0",
            order=deployment.order,
            failure_action="pause",
        ),
        converge_config=docker.ServiceConvergeConfigArgs(delay="5s", timeout=CONVERGE_TIMEOUT),
        opts=opts,
    )


def task_slots(service: docker.Service, replicas: int) -> list[pulumi.Output[str]]:
    """`<service>.1` .. `<service>.<n>`: Swarm's task slots (`docker service ps`), whose
    containers are named `<slot>.<task id>`. The outputs document lists these per service."""
    return [
        pulumi.Output.format("{0}.{1}", service.name, number) for number in range(1, replicas + 1)
    ]


def content_name(scope: StackScope, logical: str, digest: str) -> str:
    """`<project>-<stack>-<logical>-<digest>`: Swarm configs and secrets cannot change, so new
    content is a new object (created before the service rolls onto it, the old one deleted after).
    """
    return scope.name(f"{logical}-{digest[:_DIGEST_CHARACTERS]}")


def _digest(path: str, content: str) -> str:
    return hashlib.sha256(f"{path}\0{content}".encode()).hexdigest()


def _base64(content: str) -> str:
    return base64.b64encode(content.encode()).decode()


def _resource_name(logical: str, file: MountedFile) -> str:
    return f"{logical}-{posixpath.basename(file.path)}"


def _file_labels(scope: StackScope, logical: str, file: MountedFile) -> list[tuple[str, str]]:
    return scope.label_pairs(logical, {"microstack.file": file.path})


def _mount(file: MountedFile) -> dict[str, Any]:
    """Where and how a secret or config appears in the task: the file's path, root-owned."""
    return {
        "file_name": file.path,
        "file_uid": "0",
        "file_gid": file.group,
        "file_mode": file.mode,
    }


def _secret(
    logical: str, scope: StackScope, file: MountedFile, opts: pulumi.ResourceOptions
) -> docker.ServiceTaskSpecContainerSpecSecretArgs:
    content = pulumi.Output.secret(file.content)
    # The name carries a digest of the secret: 48 bits of a sha256 over 238-bit random passwords
    # say nothing about them, and the name must not itself be secret (it shows in every preview).
    name = pulumi.Output.unsecret(
        content.apply(lambda text: content_name(scope, logical, _digest(file.path, text)))
    )
    secret = docker.Secret(
        _resource_name(logical, file),
        name=name,
        data=content.apply(_base64),
        labels=[
            docker.SecretLabelArgs(label=key, value=value)
            for key, value in _file_labels(scope, logical, file)
        ],
        opts=pulumi.ResourceOptions(parent=opts.parent),
    )
    return docker.ServiceTaskSpecContainerSpecSecretArgs(
        secret_id=secret.id, secret_name=secret.name, **_mount(file)
    )


def _config(
    logical: str, scope: StackScope, file: MountedFile, opts: pulumi.ResourceOptions
) -> docker.ServiceTaskSpecContainerSpecConfigArgs:
    content = pulumi.Output.from_input(file.content)
    config = docker.ServiceConfig(
        _resource_name(logical, file),
        name=content.apply(lambda text: content_name(scope, logical, _digest(file.path, text))),
        data=content.apply(_base64),
        labels=[
            docker.ServiceConfigLabelArgs(label=key, value=value)
            for key, value in _file_labels(scope, logical, file)
        ],
        opts=pulumi.ResourceOptions(parent=opts.parent),
    )
    return docker.ServiceTaskSpecContainerSpecConfigArgs(
        config_id=config.id, config_name=config.name, **_mount(file)
    )


def _environment(envs: Sequence[str]) -> dict[str, str] | None:
    # The same sorted `KEY=VALUE` list the containers target passes, as the map Swarm takes.
    return dict(entry.split("=", 1) for entry in envs) or None
