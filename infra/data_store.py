"""What PostgreSQL and Redis have in common: a pinned registry image, a named volume for the data,
the internal backend network, and (opt-in) a port published to the host for local tools."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_docker as docker

from infra import containers
from infra.naming import StackScope
from infra.network import Networks


@dataclass(frozen=True)
class DataStore:
    container: docker.Container
    volume: docker.Volume


@dataclass(frozen=True)
class DataStoreArgs:
    """What differs between the stores; `logical` is the resource name, DNS alias and label."""

    logical: str
    image: str
    port: int  # inside the container
    data_directory: str
    memory_mb: int
    host_port: int | None  # None: not published to the host
    bind_address: str  # host address a published port binds to


def declare_data_store(
    args: DataStoreArgs, scope: StackScope, networks: Networks, **arguments: Any
) -> DataStore:
    """The store's volume and container; `arguments` are the store's own container arguments."""
    image = containers.remote_image(args.logical, args.image)
    volume = docker.Volume(
        f"{args.logical}-data",
        name=scope.name(f"{args.logical}-data"),
        labels=scope.label_list(args.logical),
    )
    container = containers.declare_container(
        args.logical,
        scope,
        memory_mb=args.memory_mb,
        image=image.image_id,
        volumes=[{"volume_name": volume.name, "container_path": args.data_directory}],
        networks_advanced=_networks(args, networks),
        ports=_ports(args),
        **arguments,
    )
    return DataStore(container=container, volume=volume)


def _networks(args: DataStoreArgs, networks: Networks) -> list[dict[str, object]]:
    attached = [containers.attach(networks.backend, args.logical)]
    if args.host_port is not None:
        if networks.published is None:
            raise ValueError(f"{args.logical} is published: declare the `published` network")
        attached.append(containers.attach(networks.published))
    return attached


def _ports(args: DataStoreArgs) -> list[dict[str, object]] | None:
    if args.host_port is None:
        return None
    return [containers.published_port(args.port, args.host_port, args.bind_address)]


def connection_details(host_port: int | None, client_host: str) -> dict[str, pulumi.Input[Any]]:
    """Host and port for the outputs document: both null unless the store is published."""
    published = host_port is not None
    return {"host": client_host if published else None, "port": host_port}
