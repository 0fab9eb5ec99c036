"""`DataStore`: what PostgreSQL and Redis have in common. A pinned registry image, a named volume
for the data, the internal backend network, and (opt-in) a port published to the host for local
tools. infra/postgres.py and infra/redis.py say what differs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker

from infra import containers
from infra.moves import moved_under
from infra.naming import StackScope
from infra.network import Networks


@dataclass(frozen=True)
class DataStoreArgs:
    """One store; its logical name (`postgres`, `redis`) is the component's name, DNS alias and
    label."""

    image: str  # a pinned registry reference
    port: int  # inside the container
    data_directory: str  # where the volume is mounted
    memory_mb: int
    healthcheck: docker.ContainerHealthcheckArgs
    host_port: int | None  # None: not published to the host
    bind_address: str  # host address a published port binds to
    envs: Sequence[str] = ()
    command: Sequence[str] | None = None
    uploads: Sequence[docker.ContainerUploadArgs] = field(default_factory=tuple)
    stop_seconds: int = containers.STOP_SECONDS


class DataStore(pulumi.ComponentResource):
    image: docker.RemoteImage
    volume: docker.Volume
    container: docker.Container

    def __init__(
        self,
        name: str,
        args: DataStoreArgs,
        scope: StackScope,
        networks: Networks,
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
        self.container = containers.declare_container(
            name,
            scope,
            containers.ContainerArgs(
                image=self.image.image_id,
                memory_mb=args.memory_mb,
                healthcheck=args.healthcheck,
                networks=_networks(name, args, networks),
                envs=args.envs,
                command=args.command,
                uploads=args.uploads,
                volumes=[
                    docker.ContainerVolumeArgs(
                        volume_name=self.volume.name, container_path=args.data_directory
                    )
                ],
                ports=_ports(args),
                stop_seconds=args.stop_seconds,
            ),
            moved_under(self),
        )
        self.register_outputs(
            {"container_name": self.container.name, "volume_name": self.volume.name}
        )


def _networks(
    name: str, args: DataStoreArgs, networks: Networks
) -> list[docker.ContainerNetworksAdvancedArgs]:
    attached = [containers.attach(networks.backend, name)]
    if args.host_port is not None:
        if networks.published is None:
            raise ValueError(f"{name} is published: declare the `published` network")
        attached.append(containers.attach(networks.published))
    return attached


def _ports(args: DataStoreArgs) -> list[docker.ContainerPortArgs]:
    if args.host_port is None:
        return []
    return [containers.published_port(args.port, args.host_port, args.bind_address)]


def connection_details(host_port: int | None, client_host: str) -> dict[str, object]:
    """Host and port for the outputs document: both null unless the store is published."""
    published = host_port is not None
    return {"host": client_host if published else None, "port": host_port}
