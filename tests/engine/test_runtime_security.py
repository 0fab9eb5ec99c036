"""The services run unprivileged (their images too, built on the stack's servicekit base), and no
generated secret shows in `docker inspect`, an image's history or layers, or any container's
logs."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import pytest

from tests.engine.probes import run_in
from tests.engine.stack import EngineStack

pytestmark = pytest.mark.engine
SERVICES = ("users", "products", "orders")
SERVICE_REPLICAS = tuple(f"{service}-{n}" for service in SERVICES for n in (1, 2))
STACK_CONTAINERS = ("postgres", "redis", *SERVICE_REPLICAS, "gateway")
SERVICE_UID = "10001"


@pytest.mark.parametrize("replica", SERVICE_REPLICAS)
def test_service_processes_run_as_the_unprivileged_user(
    engine_stack: EngineStack, replica: str
) -> None:
    container = engine_stack.container(replica)
    assert container.attrs["Config"]["User"] == f"{SERVICE_UID}:0"
    # Every process in the container, as the kernel sees it (not just what was configured).
    top = container.top(ps_args="-o pid,uid,comm")
    column = top["Titles"].index("UID")
    uids = {process[column] for process in top["Processes"]}
    assert uids == {SERVICE_UID}, top["Processes"]
    exit_code, output = run_in(container, "python", "-c", "import os; print(os.geteuid())")
    assert (exit_code, output.strip()) == (0, SERVICE_UID)


@pytest.mark.parametrize("service", SERVICES)
def test_service_images_default_to_the_unprivileged_user_on_the_stack_base(
    engine_stack: EngineStack, service: str
) -> None:
    """`docker run` of a service image, without the stack's `user`, is unprivileged too."""
    client = engine_stack.engine.client
    images = engine_stack.outputs["images"]
    image = client.images.get(images[service]["id"])
    assert image.attrs["Config"]["User"] == f"{SERVICE_UID}:0"
    # Built FROM this stack's servicekit base: its layers, then only the service's own.
    base = client.images.get(images["servicekit"]["id"])
    assert image.labels["org.opencontainers.image.base.digest"] == base.id
    base_layers = base.attrs["RootFS"]["Layers"]
    assert image.attrs["RootFS"]["Layers"][: len(base_layers)] == base_layers


def test_service_secret_files_are_not_writable_or_world_readable(
    engine_stack: EngineStack,
) -> None:
    container = engine_stack.container("users-1")
    secret_file = "/run/secrets/database-password"
    exit_code, output = run_in(container, "stat", "-c", "%a %u:%g", secret_file)
    assert (exit_code, output.strip()) == (0, "440 0:0")


def secret_fragments(engine_stack: EngineStack) -> list[str]:
    """Every generated secret, and each line of the PEM ones (a partial leak counts too)."""
    values = [*engine_stack.mocks.secret_values]
    values += [engine_stack.outputs["postgres_password"], engine_stack.outputs["redis_password"]]
    fragments = []
    for value in values:
        if "-----BEGIN" in value:
            fragments += [line for line in value.splitlines() if len(line) >= 32]
        else:
            fragments.append(value)
    assert len(fragments) >= 5, "expected three passwords and a private key"
    return fragments


def leaks(text: str, fragments: Iterable[str]) -> list[str]:
    return [f"{fragment[:4]}…" for fragment in fragments if fragment in text]


def test_no_secret_in_container_inspect_or_logs(engine_stack: EngineStack) -> None:
    fragments = secret_fragments(engine_stack)
    for logical in STACK_CONTAINERS:
        container = engine_stack.container(logical)
        assert not leaks(repr(container.attrs), fragments), f"docker inspect {container.name}"
        logs = container.logs(stdout=True, stderr=True).decode(errors="replace")
        assert logs.strip(), f"{container.name} logged nothing: the check would prove nothing"
        assert not leaks(logs, fragments), f"logs of {container.name}"


def test_no_secret_in_image_config_history_or_layers(engine_stack: EngineStack) -> None:
    fragments = secret_fragments(engine_stack)
    client = engine_stack.engine.client
    for service in SERVICES:
        image = client.images.get(engine_stack.outputs["images"][service]["id"])
        assert not leaks(repr(image.attrs), fragments), f"image config of {service}"
        history = repr(image.history())
        assert "pip install" in history, "history should show the build steps"
        assert not leaks(history, fragments), f"image history of {service}"
        assert not leaks_in_stream(image.save(named=False), fragments), f"layers of {service}"


def leaks_in_stream(chunks: Iterable[bytes], fragments: list[str]) -> list[str]:
    """Search a `docker save` stream chunk by chunk, overlapping by the longest fragment."""
    needles = [fragment.encode() for fragment in fragments]
    overlap = max(len(needle) for needle in needles)
    window = b""
    found: set[bytes] = set()
    for chunk in chunks:
        window = window[-overlap:] + chunk
        found.update(needle for needle in needles if needle in window)
    return [needle[:4].decode() + "…" for needle in found]


def test_secret_values_are_strong(engine_stack: EngineStack) -> None:
    outputs: dict[str, Any] = engine_stack.outputs
    passwords = [outputs["postgres_password"], outputs["redis_password"]]
    assert len(set(passwords)) == len(passwords)
    for password in passwords:
        assert re.fullmatch(r"[A-Za-z0-9]{40}", password)
