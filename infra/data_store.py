"""`DataStore`: what PostgreSQL and Redis have in common. A pinned registry image, a named volume
for the data, the internal backend network, and (opt-in) a port published to the host for local
tools. infra/postgres.py and infra/redis.py say what differs.

Under the swarm target the store is a one-replica Swarm service placed on the node labelled
`microstack.stores=true`, where its named volume lives, replaced stop-first (never two processes
on one data directory)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker

from infra import containers, swarm, workloads
from infra.moves import moved_under
from infra.naming import StackScope
from infra.network import Networks
from infra.swarm import SwarmOptions


@dataclass(frozen=True)
class DataStoreArgs:
    """One store; its logical name (`postgres`, `redis`) is the component's name, DNS alias and
    label."""

    image: str  # a pinned registry reference
    port: int  # inside the container
    data_directory: str  # where the volume is mounted
    memory_mb: int
    healthcheck: workloads.Healthcheck
    host_port: int | None  # None: not published to the host
    bind_address: str  # host address a published port binds to
    envs: Sequence[str] = ()
    command: Sequence[str] | None = None
    files: Sequence[workloads.MountedFile] = field(default_factory=tuple)
    stop_seconds: int = workloads.STOP_SECONDS


class DataStore(pulumi.ComponentResource):
    image: docker.RemoteImage
    volume: docker.Volume
    # What runs the store: a docker.Container, or a docker.Service under the swarm target.
    workload: pulumi.CustomResource

    def __init__(
        self,
        name: str,
        args: DataStoreArgs,
        scope: StackScope,
        networks: Networks,
        swarm_options: SwarmOptions | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("microstack:index:DataStore", name, None, opts)
        self.image = containers.remote_image(name, args.image, moved_under(self))
        self.volume = docker.Volume(
            f"{name}-data",
            name=scope.name(f"{name}-data"),
            labels=[
                docker.VolumeLabelArgs(label=key, value=value)
                for key, value in scope.label_pairs(name)
            ],
            opts=moved_under(self),
        )
        workload = workloads.WorkloadArgs(
            image=self.image.image_id,
            memory_mb=args.memory_mb,
            healthcheck=args.healthcheck,
            networks=_networks(name, args, networks),
            envs=args.envs,
            command=args.command,
            files=args.files,
            volumes=[workloads.VolumeMount(self.volume.name, args.data_directory)],
            ports=_ports(args),
            stop_seconds=args.stop_seconds,
        )
        if swarm_options is None:
            container = containers.declare_container(name, scope, workload, moved_under(self))
            self.workload = container
            self.register_outputs(
                {"container_name": container.name, "volume_name": self.volume.name}
            )
            return
        service = swarm.declare_service(
            name,
            scope,
            # Nodes pull the reference themselves; the image resource pulls it on this engine.
            dataclasses.replace(workload, image=self.image.name),
            swarm_options,
            swarm.Deployment(
                replicas=1, order=swarm.STOP_FIRST, constraints=[swarm.STORES_CONSTRAINT]
            ),
            pulumi.ResourceOptions(parent=self),
        )
        self.workload = service
        self.register_outputs({"service_name": service.name, "volume_name": self.volume.name})


def _networks(name: str, args: DataStoreArgs, networks: Networks) -> list[workloads.Attachment]:
    attached = [workloads.attach(networks.backend, name)]
    if args.host_port is not None:
        if networks.published is None:
            raise ValueError(f"{name} is published: declare the `published` network")
        attached.append(workloads.attach(networks.published))
    return attached


def _ports(args: DataStoreArgs) -> list[workloads.PublishedPort]:
    if args.host_port is None:
        return []
    return [workloads.published_port(args.port, args.host_port, args.bind_address)]


def connection_details(host_port: int | None, client_host: str) -> dict[str, object]:
    """Host and port for the outputs document: both null unless the store is published."""
    published = host_port is not None
    return {"host": client_host if published else None, "port": host_port}
