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
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)


class Service(pulumi.ComponentResource):
    """Builds `<context>/Dockerfile` on the base image (never pushed) and runs it on networks."""

    image: docker.Image
    container: docker.Container

    def __init__(
        self, name: str, args: ServiceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("microstack:index:Service", name, None, opts)
        self.image = self._image(name, args)
        self.container = self._container(name, args)
        self.register_outputs(
            {
                "image_name": self.image.image_name,
                "image_id": self.image.repo_digest,
                "container_name": self.container.name,
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

    def _container(self, name: str, args: ServiceArgs) -> docker.Container:
        return containers.declare_container(
            name,
            args.scope,
            containers.ContainerArgs(
                # The image ID, not the tag: a new image replaces the container, an identical one
                # does not.
                image=self.image.repo_digest,
                memory_mb=args.memory_mb,
                healthcheck=containers.healthcheck(
                    ["CMD", "python", "-m", "servicekit.healthcheck"]
                ),
                networks=[containers.attach(network, name) for network in args.networks],
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
            pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
