"""`Service`: one Flask service as a locally built image run as replicas: containers that wait for
health one after the other (containers target), or one Swarm service with a rolling update (swarm
target)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_docker as docker
from servicekit.contract import SERVICE_PORT

from infra import containers, images, swarm, workloads
from infra.images import local_image
from infra.naming import StackScope
from infra.swarm import SwarmOptions

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
    swarm: SwarmOptions | None = None  # None: the containers target


class Service(pulumi.ComponentResource):
    """Builds `<context>/Dockerfile` on the base image (never pushed) and runs it as `replicas`
    containers, `<name>-1` .. `<name>-<n>`, on the networks.

    Each replica depends on the one before it. pulumi-docker replaces a container by deleting it
    first (delete-before-replace), and the engine registers a resource only once those it depends
    on are done, so a new image replaces the replicas one at a time: replica 2 is stopped only
    after the new replica 1 is healthy (`wait`), and the others serve meanwhile
    (docs/architecture.md, "Updates that drop no request").

    Under the swarm target the replicas are the tasks of one Swarm service, which replaces them
    one at a time, each new task healthy before an old one stops (`start-first`), and rolls back
    an update whose tasks fail.
    """

    image: docker.Image
    containers: list[docker.Container]  # empty under the swarm target
    swarm_service: docker.Service | None  # None under the containers target
    # Per replica: the container names, or the Swarm task slots (`<service>.<n>`).
    replica_names: list[pulumi.Output[str]]

    def __init__(
        self, name: str, args: ServiceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("microstack:index:Service", name, None, opts)
        self.image = self._image(name, args)
        self.containers = []
        self.swarm_service = None
        if args.swarm is None:
            waits_for = list(args.depends_on)
            for number in range(1, args.replicas + 1):
                replica = self._replica(name, number, args, waits_for)
                self.containers.append(replica)
                waits_for = [replica]
            self.replica_names = [container.name for container in self.containers]
            self.register_outputs(
                {
                    "image_name": self.image.image_name,
                    "image_id": self.image.repo_digest,
                    "container_names": self.replica_names,
                }
            )
            return
        # A pushed image by its repo digest (what every node pulls); a local one by its tag, which
        # Swarm cannot resolve from an image ID.
        image = self.image.repo_digest if args.swarm.image_registry else self.image.image_name
        self.swarm_service = swarm.declare_service(
            name,
            args.scope,
            self._workload(
                name,
                args,
                image=image,
                # The service's name alone: Swarm's DNS answers it with the virtual IP or with
                # every task's address (swarmEndpointMode).
                aliases=[name],
            ),
            args.swarm,
            swarm.Deployment(
                replicas=args.replicas, order=swarm.START_FIRST, image_id=self.image.repo_digest
            ),
            pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        self.replica_names = swarm.task_slots(self.swarm_service, args.replicas)
        self.register_outputs(
            {
                "image_name": self.image.image_name,
                "image_id": self.image.repo_digest,
                "service_name": self.swarm_service.name,
                "task_slots": self.replica_names,
            }
        )

    def _image(self, name: str, args: ServiceArgs) -> docker.Image:
        registry = args.swarm.image_registry if args.swarm else None
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
            registry=registry,
            # A pushed image is tagged by its source, so the registry says which code it holds.
            tag=args.source_digest[:12] if registry else images.TAG,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _replica(
        self, name: str, number: int, args: ServiceArgs, depends_on: Sequence[pulumi.Resource]
    ) -> docker.Container:
        replica = replica_name(name, number)
        return containers.declare_container(
            replica,
            args.scope,
            self._workload(
                name,
                args,
                # The image ID, not the tag: a new image replaces the container, an identical one
                # does not.
                image=self.image.repo_digest,
                # The service's name is every replica's alias: Docker's DNS answers it with all of
                # their addresses, which the gateway balances over.
                aliases=[name, replica],
            ),
            pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
        )

    def _workload(
        self, name: str, args: ServiceArgs, *, image: pulumi.Input[str], aliases: Sequence[str]
    ) -> workloads.WorkloadArgs:
        """One replica, whichever runs it: the same environment, files, user and health."""
        return workloads.WorkloadArgs(
            image=image,
            memory_mb=args.memory_mb,
            healthcheck=workloads.healthcheck(HEALTHCHECK),
            networks=[workloads.attach(network, *aliases) for network in args.networks],
            envs=workloads.environment(args.environment),
            files=[
                workloads.secret_file(path, args.secret_files[path])
                for path in sorted(args.secret_files)
            ],
            user=USER,
            drop_all_capabilities=True,
            stop_seconds=STOP_SECONDS,
            extra_labels={"microstack.source-digest": args.source_digest},
        )


def replica_name(service: str, number: int) -> str:
    """`users-1`: a replica's logical name, DNS alias and (stack-scoped) container name."""
    return f"{service}-{number}"
