"""Two Swarm nodes on one machine: the manager (this engine) and a worker (a second dockerd in its
own network namespace, tests/engine/worker_node.py), with the images in a registry both pull from
(Debian's docker-registry over TLS, tests/engine/registry.py), as README "Running on Docker
Swarm" tells a team to set it up.

Under a 40/s GET load the services scale out onto the worker, the stores and the gateway stay on
the manager, and draining the worker moves its tasks back without a failed GET. The test puts the
stack back (no registry, one node, two replicas) before it ends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import docker.errors
import pytest

from launchers.polling import poll_until
from tests.engine.conftest import SWARM_STACK
from tests.engine.registry import Registry
from tests.engine.stack import REPOSITORY, EngineStack, read_stack_config
from tests.engine.worker_node import WorkerNode
from tests.support.load import GetLoad

pytestmark = pytest.mark.engine

APPLICATIONS = ("users", "products", "orders")
SCALED_REPLICAS = 4
NODE_SECONDS = 60
MOVE_SECONDS = 180


def running_tasks(stack: EngineStack, logical: str) -> list[dict[str, Any]]:
    tasks = stack.engine.client.api.tasks(
        filters={"service": stack.engine.scope.name(logical), "desired-state": "running"}
    )
    return [task for task in tasks if task["Status"]["State"] == "running"]


def nodes_of(stack: EngineStack, logical: str) -> list[str]:
    return sorted(task["NodeID"] for task in running_tasks(stack, logical))


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


def drain(stack: EngineStack, node_id: str) -> None:
    """`docker node update --availability drain`, then wait until every service runs all its
    replicas elsewhere."""
    api = stack.engine.client.api
    node = api.inspect_node(node_id)
    api.update_node(node_id, node["Version"]["Index"], node["Spec"] | {"Availability": "drain"})

    def placement() -> dict[str, list[str]]:
        return {logical: nodes_of(stack, logical) for logical in APPLICATIONS}

    poll_until(
        placement,
        lambda now: all(
            len(nodes) == SCALED_REPLICAS and node_id not in nodes for nodes in now.values()
        ),
        timeout=MOVE_SECONDS,
        interval=1,
        message=lambda now: f"tasks still on the drained node, or missing: {now}",
    )


def test_a_second_node_takes_tasks_and_draining_it_costs_no_get(
    swarm_stack: EngineStack, swarm_worker: WorkerNode, report: Callable[[str], None]
) -> None:
    config = read_stack_config(REPOSITORY / f"Pulumi.{SWARM_STACK}.yaml")
    manager_id = str(swarm_stack.engine.client.info()["Swarm"]["NodeID"])
    with Registry(host=swarm_worker.host_address) as registry:
        pushed = config | {"microstack:imageRegistry": registry.address}
        try:
            # A second node pulls what it runs: first the images go to the registry, and the
            # services roll onto their repo digests.
            swarm_stack.apply(pushed)
            for logical in APPLICATIONS:
                image = swarm_stack.engine.client.api.inspect_service(
                    swarm_stack.engine.scope.name(logical)
                )["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
                assert image.startswith(f"{registry.address}/") and "@sha256:" in image, image

            with joined(swarm_stack, swarm_worker) as worker_id:
                _, load = GetLoad(swarm_stack.outputs).run_while(
                    lambda: swarm_stack.apply(
                        pushed | {"microstack:serviceReplicas": SCALED_REPLICAS}
                    )
                )
                report(f"swarm: scaling out onto a second node under load: {load.describe()}")
                assert load.failed == 0, load.describe()
                for logical in APPLICATIONS:
                    assert set(nodes_of(swarm_stack, logical)) == {manager_id, worker_id}, logical
                for pinned in ("postgres", "redis", "gateway"):
                    assert nodes_of(swarm_stack, pinned) == [manager_id], pinned

                _, load = GetLoad(swarm_stack.outputs).run_while(
                    lambda: drain(swarm_stack, worker_id)
                )
                report(f"swarm: draining the second node under load: {load.describe()}")
                assert load.failed == 0, load.describe()
        finally:
            swarm_stack.apply(config)
    for logical in APPLICATIONS:
        assert len(running_tasks(swarm_stack, logical)) == 2, logical
