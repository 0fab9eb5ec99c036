"""The parts of a two-node Swarm on one machine, each proven alone: a worker node (a second dockerd
in its own network namespace) and a TLS registry that both engines trust.

No swarm is created here: the main engine's Swarm state belongs to the Swarm tests.
"""

from __future__ import annotations

import io
import os
import secrets
import signal
import tarfile
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest
import requests

from launchers.polling import poll_until
from launchers.processes import ServerStartError, port_open
from tests.engine.registry import DOCKER_CERTS_DIR, Registry
from tests.engine.worker_node import (
    NETNS_DIR,
    WorkerNetwork,
    WorkerNode,
    copy_image,
    mounts_below,
    running_worker,
)
from tests.support.binaries import binaries_required

pytestmark = pytest.mark.engine
PYTHON_IMAGE = "microstack-standin/python:3.11"
DEBIAN_IMAGE = "microstack-standin/debian:bookworm"
PROBE_REPOSITORY = "microstack-cluster-parts/probe"


@pytest.fixture(scope="module")
def worker(docker_engine: docker.DockerClient) -> Iterator[WorkerNode]:
    with running_worker() as node:
        yield node


def test_worker_is_an_engine_of_its_own(
    worker: WorkerNode, docker_engine: docker.DockerClient
) -> None:
    info = worker.client.info()
    assert info["ID"] != docker_engine.info()["ID"]
    assert info["Name"] == worker.name
    assert Path(info["DockerRootDir"]).is_relative_to(worker.directory)
    assert info["Swarm"]["LocalNodeState"] == "inactive"


def test_port_published_on_the_worker_answers_from_the_host(
    worker: WorkerNode, docker_engine: docker.DockerClient, base_images: None
) -> None:
    copy_image(PYTHON_IMAGE, docker_engine, worker.client)
    server = worker.client.containers.run(
        PYTHON_IMAGE,
        ["python3", "-m", "http.server", "8000"],
        detach=True,
        ports={"8000/tcp": (worker.address, None)},
    )
    try:
        server.reload()
        port = int(server.attrs["NetworkSettings"]["Ports"]["8000/tcp"][0]["HostPort"])
        response = poll_until(
            lambda: _get(f"http://{worker.address}:{port}/"),
            timeout=20,
            message=f"nothing answers on {worker.address}:{port}",
        )
        assert response is not None and response.status_code == 200
    finally:
        server.remove(force=True)


def test_image_built_on_the_main_engine_reaches_the_worker_through_the_registry(
    worker: WorkerNode, docker_engine: docker.DockerClient
) -> None:
    with binaries_required(), Registry(worker.host_address) as registry:
        reference = f"{registry.address}/{PROBE_REPOSITORY}:{secrets.token_hex(4)}"
        built = _build_tiny_image(docker_engine, reference)
        try:
            digest = _push(docker_engine, reference)
            pulled = worker.client.images.pull(f"{registry.address}/{PROBE_REPOSITORY}@{digest}")
        finally:
            docker_engine.images.remove(built.id, force=True)
        assert pulled.id == built.id
    assert not (DOCKER_CERTS_DIR / registry.address).exists()
    assert not port_open(registry.host, registry.port)


@pytest.mark.parametrize("daemon_end", ["stopped", "killed"])
def test_teardown_leaves_no_namespace_link_process_mount_or_cgroup(
    daemon_end: str, docker_engine: docker.DockerClient, base_images: None
) -> None:
    # Its own link subnet: the module's worker is still up.
    node = WorkerNode(WorkerNetwork.numbered(1))
    with binaries_required(), node:
        copy_image(DEBIAN_IMAGE, docker_engine, node.client)
        # init: sleep as PID 1 would ignore SIGTERM and turn "stopped" into "killed" as well.
        node.client.containers.run(
            DEBIAN_IMAGE,
            ["sleep", "infinity"],
            detach=True,
            init=True,
            ports={"80/tcp": (node.address, None)},
        )
        processes = node.processes()
        commands = " ".join(_command(pid) for pid in processes)
        assert "containerd-shim" in commands and "sleep infinity" in commands
        assert mounts_below(node.directory)
        if daemon_end == "killed":
            # The hard case: shims and containers outlive a killed dockerd, and so do its mounts.
            os.kill(int((node.directory / "docker.pid").read_text()), signal.SIGKILL)
    assert [pid for pid in processes if _alive(pid)] == []
    assert node.processes() == []
    # Independent of how the node finds its processes: nothing running names it any more.
    assert [pid for pid in _process_ids() if node.name in _command(pid) and _alive(pid)] == []
    assert not (NETNS_DIR / node.name).exists()
    assert not Path("/sys/class/net", node.host_link).exists()
    assert mounts_below(node.directory) == []
    assert not node.directory.exists()
    assert list(Path("/sys/fs/cgroup").glob(f"*/{node.name}")) == []
    node.stop()  # a second teardown finds nothing to do


def test_daemon_that_cannot_start_fails_with_its_log_and_leaves_nothing(
    docker_engine: docker.DockerClient,
) -> None:
    # A pool's subnets cannot be larger than the pool itself: dockerd refuses to start.
    network = WorkerNetwork(link=WorkerNetwork.numbered(2).link, pool_subnet_size=8)
    node = WorkerNode(network)
    with binaries_required(), pytest.raises(ServerStartError, match="exited") as failure, node:
        pass
    assert "invalid pools size" in str(failure.value)  # the tail of its log
    assert not (NETNS_DIR / node.name).exists()
    assert not Path("/sys/class/net", node.host_link).exists()
    assert not node.directory.exists()


def _get(url: str) -> requests.Response | None:
    try:
        return requests.get(url, timeout=2)
    except requests.ConnectionError:
        return None


def _build_tiny_image(engine: docker.DockerClient, tag: str) -> docker.models.images.Image:
    # FROM scratch: a layer of a few bytes, unique per run so the push really uploads it.
    files = {"Dockerfile": b"FROM scratch\nCOPY probe /probe\n", "probe": secrets.token_bytes(16)}
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as archive:
        for name, content in files.items():
            entry = tarfile.TarInfo(name)
            entry.size = len(content)
            archive.addfile(entry, io.BytesIO(content))
    context.seek(0)
    image, _log = engine.images.build(fileobj=context, custom_context=True, tag=tag, rm=True)
    return image


def _push(engine: docker.DockerClient, reference: str) -> str:
    repository, tag = reference.rsplit(":", 1)
    digest = None
    for message in engine.images.push(repository, tag=tag, stream=True, decode=True):
        if "error" in message:
            raise docker.errors.APIError(f"push of {reference} failed: {message['error']}")
        digest = message.get("aux", {}).get("Digest", digest)
    if digest is None:
        raise AssertionError(f"the push of {reference} reported no digest")
    return str(digest)


def _process_ids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def _command(pid: int) -> str:
    try:
        return Path("/proc", str(pid), "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        stat = Path("/proc", str(pid), "stat").read_text()
    except OSError:
        return False
    return not stat[stat.rindex(")") + 2 :].startswith("Z")
