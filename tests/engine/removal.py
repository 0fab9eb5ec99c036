"""Removing one Docker object the harness created, as the provider's Delete does: by id, and
quietly when it is already gone."""

from __future__ import annotations

import contextlib

import docker.errors

from tests.engine import swarm_objects
from tests.engine.engine import DockerEngine
from tests.engine.ledger import CreatedObject


def remove_container(
    engine: DockerEngine, created: CreatedObject, stop_timeout: int | None = None
) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        container = engine.client.containers.get(created.id)
        # A graceful stop first (PostgreSQL writes its shutdown checkpoint), like `pulumi destroy`;
        # without a timeout Docker uses the container's declared `stop_timeout`.
        container.stop(timeout=stop_timeout)
        container.remove(v=True, force=True)


def remove_network(engine: DockerEngine, created: CreatedObject) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        engine.client.networks.get(created.id).remove()


def remove_volume(engine: DockerEngine, created: CreatedObject) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        engine.client.volumes.get(created.id).remove(force=True)


def remove_image(engine: DockerEngine, created: CreatedObject) -> None:
    with contextlib.suppress(docker.errors.ImageNotFound):
        engine.client.images.remove(created.name, force=True)


REMOVERS = {
    "service": swarm_objects.remove_service,
    "secret": swarm_objects.remove_secret,
    "config": swarm_objects.remove_config,
    "container": remove_container,
    "network": remove_network,
    "volume": remove_volume,
    "image": remove_image,
}
