"""Two Swarm nodes on one machine: the manager (this engine) and a worker (a second dockerd in its
own network namespace, tests/engine/worker_node.py), with the images in a registry both pull from
(Debian's docker-registry over TLS, tests/engine/registry.py), as README "Running on Docker
Swarm" tells a team to set it up.

Under a 40/s GET load the services scale out onto the worker, the stores and the gateway stay on
the manager, draining the worker moves its tasks back, and a worker that drops off the network
has its tasks replaced on the manager, each without a failed GET. The module puts the stack back
(no registry, one node, two replicas) when it ends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import docker.errors
import pytest

from launchers.polling import poll_until
from launchers.processes import run_checked
from tests.engine.conftest import SWARM_STACK
from tests.engine.probes import APPLICATIONS, running_tasks
from tests.engine.registry import Registry
from tests.engine.stack import REPOSITORY, EngineStack, read_stack_config
from tests.engine.worker_node import WorkerNode
from tests.support.load import GetLoad

pytestmark = pytest.mark.engine

SCALED_REPLICAS = 4
NODE_SECONDS = 60
MOVE_SECONDS = 180
# A request nginx writes onto a kept-alive connection to a task of a lost node gets no answer and
# no error: nginx tries the next task after its 10 s read timeout, within its 25 s retry budget
# (nginx/gateway.conf.j2). The client waits longer than that budget, so the load counts what the
# gateway answers, not what a client gave up on (and resent).
LOST_NODE_CLIENT_TIMEOUT = 30.0


def nodes_of(stack: EngineStack, logical: str) -> list[str]:
    return sorted(task["NodeID"] for task in running_tasks(stack.engine, logical))


@contextlib.contextmanager
def joined(stack: EngineStack, worker: WorkerNode) -> Iterator[str]:
    """The worker in the manager's Swarm (its node ID), out of it again afterwards."""
    manager = stack.engine.client
    token = manager.swarm.attrs["JoinTokens"]["Worker"]
    worker.client.swarm.join(
        [f"{worker.host_address}:2377"],
        token,
        advertise_addr=worker.address,
        listen_addr=f"{worker.address}:2377",
    )
    node_id = str(worker.client.info()["Swarm"]["NodeID"])
    try:
        poll_until(
            lambda: manager.api.inspect_node(node_id)["Status"]["State"],
            lambda state: state == "ready",
            timeout=NODE_SECONDS,
            interval=1,
            message=lambda state: f"worker node {node_id} is {state}, not ready",
        )
        yield node_id
    finally:
        with contextlib.suppress(docker.errors.APIError):
            worker.client.swarm.leave(force=True)
        with contextlib.suppress(docker.errors.NotFound):
            manager.api.remove_node(node_id, force=True)


@dataclass(frozen=True)
class Cluster:
    config: dict[str, Any]  # the stack's config with the registry set
    manager_id: str
    worker_id: str


@pytest.fixture(scope="module")
def cluster(swarm_stack: EngineStack, swarm_worker: WorkerNode) -> Iterator[Cluster]:
    """The worker joined, the images in a registry both nodes trust; afterwards the worker out,
    and the stack back as it was (no registry, two replicas)."""
    config = read_stack_config(REPOSITORY / f"Pulumi.{SWARM_STACK}.yaml")
    manager_id = str(swarm_stack.engine.client.info()["Swarm"]["NodeID"])
    with Registry(host=swarm_worker.host_address) as registry:
        pushed = config | {"microstack:imageRegistry": registry.address}
        try:
            # A second node pulls what it runs: first the images go to the registry, and the
            # services roll onto their repo digests.
            swarm_stack.apply(pushed)
            with joined(swarm_stack, swarm_worker) as worker_id:
                yield Cluster(pushed, manager_id, worker_id)
        finally:
            swarm_stack.apply(config)
    for logical in APPLICATIONS:
        assert len(running_tasks(swarm_stack.engine, logical)) == 2, logical


def test_services_run_the_pushed_images_by_digest(
    swarm_stack: EngineStack, cluster: Cluster
) -> None:
    registry = cluster.config["microstack:imageRegistry"]
    for logical in APPLICATIONS:
        spec = swarm_stack.engine.client.api.inspect_service(swarm_stack.engine.scope.name(logical))
        image = spec["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
        assert image.startswith(f"{registry}/") and "@sha256:" in image, image


def test_tasks_spread_over_both_nodes_and_draining_one_costs_no_get(
    swarm_stack: EngineStack, cluster: Cluster, report: Callable[[str], None]
) -> None:
    _, load = GetLoad(swarm_stack.outputs).run_while(
        lambda: swarm_stack.apply(cluster.config | {"microstack:serviceReplicas": SCALED_REPLICAS})
    )
    report(f"swarm: scaling out onto a second node under load: {load.describe()}")
    assert load.failed == 0, load.describe()
    for logical in APPLICATIONS:
        nodes = set(nodes_of(swarm_stack, logical))
        assert nodes == {cluster.manager_id, cluster.worker_id}, logical
    for pinned in ("postgres", "redis", "gateway"):
        assert nodes_of(swarm_stack, pinned) == [cluster.manager_id], pinned

    try:

        def drain_and_wait() -> None:
            set_availability(swarm_stack, cluster.worker_id, "drain")
            wait_for_placement(swarm_stack, SCALED_REPLICAS, away_from=cluster.worker_id)

        _, load = GetLoad(swarm_stack.outputs).run_while(drain_and_wait)
        report(f"swarm: draining the second node under load: {load.describe()}")
        assert load.failed == 0, load.describe()
    finally:
        set_availability(swarm_stack, cluster.worker_id, "active")


def test_a_node_that_drops_off_the_network_has_its_tasks_replaced_without_a_failed_get(
    swarm_stack: EngineStack,
    cluster: Cluster,
    swarm_worker: WorkerNode,
    report: Callable[[str], None],
) -> None:
    # Two more tasks per service: the scheduler puts them on the emptier node, the worker.
    replicas = SCALED_REPLICAS + 2
    swarm_stack.apply(cluster.config | {"microstack:serviceReplicas": replicas})
    for logical in APPLICATIONS:
        assert cluster.worker_id in nodes_of(swarm_stack, logical), logical

    def cut_and_wait() -> None:
        link(swarm_worker, up=False)
        wait_for_placement(swarm_stack, replicas, away_from=cluster.worker_id)

    try:
        _, load = GetLoad(swarm_stack.outputs, timeout=LOST_NODE_CLIENT_TIMEOUT).run_while(
            cut_and_wait
        )
    finally:
        link(swarm_worker, up=True)
    report(f"swarm: a node lost under load: {load.describe()}")
    assert load.failed == 0, load.describe()
    state = swarm_stack.engine.client.api.inspect_node(cluster.worker_id)["Status"]["State"]
    assert state == "down"


def link(worker: WorkerNode, *, up: bool) -> None:
    """The host's end of the worker's only link, down (the node is gone for the Swarm: no
    heartbeat, no overlay traffic) or up again."""
    run_checked(
        ["ip", "link", "set", worker.host_link, "up" if up else "down"], None, "setting the link"
    )


def set_availability(stack: EngineStack, node_id: str, availability: str) -> None:
    """`docker node update --availability <availability>`."""
    api = stack.engine.client.api
    node = api.inspect_node(node_id)
    api.update_node(
        node_id, node["Version"]["Index"], node["Spec"] | {"Availability": availability}
    )


def wait_for_placement(stack: EngineStack, replicas: int, *, away_from: str) -> None:
    """Until every service runs all its replicas on nodes other than `away_from`."""

    def placement() -> dict[str, list[str]]:
        return {logical: nodes_of(stack, logical) for logical in APPLICATIONS}

    poll_until(
        placement,
        lambda now: all(
            len(nodes) == replicas and away_from not in nodes for nodes in now.values()
        ),
        timeout=MOVE_SECONDS,
        interval=1,
        message=lambda now: f"tasks still on {away_from}, or missing: {now}",
    )
