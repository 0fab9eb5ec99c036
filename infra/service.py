"""`Service`: one Flask service as a locally built image and a container that waits for health."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_docker as docker
from servicekit.contract import SERVICE_PORT

from infra import containers
from infra.images import local_image
from infra.naming import StackScope

# The services run unprivileged; group 0 lets them read the 0440 root:root secret files.
USER = "10001:0"
HEALTHCHECK = ["CMD", "python", "-m", "servicekit.healthcheck"]
# Longer than gunicorn's graceful_timeout (20 s, servicekit/gunicorn_config.py): requests in flight
# finish before the container is removed.
STOP_SECONDS = 25
PORT = SERVICE_PORT


@dataclass(frozen=True)
class ServiceArgs:
    """What differs between services; building, running and health are the same for all."""

    context: Path  # the service's own folder, e.g. `services/user-service/`: its build context
    source_digest: str  # digest of the service's folder (see SourceTree)
    base_image: docker.Image  # the servicekit runtime base (infra/images.py)
    environment: Mapping[str, str]
    secret_files: Mapping[str, pulumi.Input[str]]  # container path -> secret content
    networks: Sequence[docker.Network]
    memory_mb: int
    scope: StackScope
    replicas: int = 1
    # What the first replica waits for (the data stores); each later one waits for the one before.
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)


class Service(pulumi.ComponentResource):
    """Builds `<context>/Dockerfile` on the base image (never pushed) and runs it as `replicas`
    containers, `<name>-1` .. `<name>-<n>`, on the networks.

    Each replica depends on the one before it. pulumi-docker replaces a container by deleting it
    first (delete-before-replace), and the engine registers a resource only once those it depends
    on are done, so a new image replaces the replicas one at a time: replica 2 is stopped only
    after the new replica 1 is healthy (`wait`), and the others serve meanwhile
    (docs/architecture.md, "Updates that drop no request").
    """

    image: docker.Image
    containers: list[docker.Container]

    def __init__(
        self, name: str, args: ServiceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("microstack:index:Service", name, None, opts)
        self.image = self._image(name, args)
        self.containers = []
        waits_for = list(args.depends_on)
        for number in range(1, args.replicas + 1):
            replica = self._replica(name, number, args, waits_for)
            self.containers.append(replica)
            waits_for = [replica]
        self.register_outputs(
            {
                "image_name": self.image.image_name,
                "image_id": self.image.repo_digest,
                "container_names": [container.name for container in self.containers],
            }
        )

    def _image(self, name: str, args: ServiceArgs) -> docker.Image:
        return local_image(
            name,
            args.scope,
            # Its own folder, not `services/`: the provider hashes the whole context, so another
            # service's change would otherwise show this image as changed too.
            context=args.context,
            dockerfile=args.context / "Dockerfile",
            args={
                # FROM takes the tag (BuildKit cannot resolve a bare image ID); the ID makes a
                # rebuilt base a changed input, and orders this build after the base's.
                "BASE_IMAGE": args.base_image.image_name,
                "BASE_IMAGE_ID": args.base_image.repo_digest,
                "SOURCE_DIGEST": args.source_digest,
            },
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _replica(
        self, name: str, number: int, args: ServiceArgs, depends_on: Sequence[pulumi.Resource]
    ) -> docker.Container:
        replica = replica_name(name, number)
        return containers.declare_container(
            replica,
            args.scope,
            containers.ContainerArgs(
                # The image ID, not the tag: a new image replaces the container, an identical one
                # does not.
                image=self.image.repo_digest,
                memory_mb=args.memory_mb,
                healthcheck=containers.healthcheck(
                    ["CMD", "python", "-m", "servicekit.healthcheck"]
                ),
                # The service's name is every replica's alias: Docker's DNS answers it with all of
                # their addresses, which the gateway balances over.
                networks=[containers.attach(network, name, replica) for network in args.networks],
                envs=containers.environment(args.environment),
                uploads=[
                    containers.secret_file(path, args.secret_files[path])
                    for path in sorted(args.secret_files)
                ],
                user=USER,
                capabilities=docker.ContainerCapabilitiesArgs(drops=["ALL"]),
                stop_seconds=STOP_SECONDS,
                extra_labels={"microstack.source-digest": args.source_digest},
            ),
            pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
        )


def replica_name(service: str, number: int) -> str:
    """`users-1`: a replica's logical name, DNS alias and (stack-scoped) container name."""
    return f"{service}-{number}"
