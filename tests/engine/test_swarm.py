"""The swarm target on a real Swarm (one node here; tests/engine/test_swarm_nodes.py adds a second):
the integration suite through the gateway, secrets that stay files, and day two under a 40/s GET
load: a killed task, a rolling code update, a scale-out as an update, and a failing image that
Swarm rolls back.

Each test that changes the stack puts it back before it ends.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from docker.models.containers import Container

from infra.services import DATABASE_PASSWORD_FILE, REDIS_PASSWORD_FILE
from launchers.polling import poll_until
from tests.engine.conftest import SWARM_STACK
from tests.engine.probes import APPLICATIONS, run_in, run_integration_suite, running_tasks
from tests.engine.stack import REPOSITORY, EngineStack, copy_repository, read_stack_config
from tests.engine.steps import Summary
from tests.engine.swarm import STORES_LABEL, STORES_VALUE
from tests.engine.swarm_objects import ServiceFailedError
from tests.support.load import GetLoad

pytestmark = pytest.mark.engine

WORKLOADS = ("postgres", "redis", *APPLICATIONS, "gateway")
REPLACEMENT_SECONDS = 120


@pytest.fixture
def swarm_config() -> dict[str, Any]:
    return read_stack_config(REPOSITORY / f"Pulumi.{SWARM_STACK}.yaml")


def service_name(stack: EngineStack, logical: str) -> str:
    return stack.engine.scope.name(logical)


def task_containers(stack: EngineStack, logical: str) -> list[Container]:
    """The running containers of a service's tasks (Swarm labels each with its service)."""
    label = f"com.docker.swarm.service.name={service_name(stack, logical)}"
    return list(stack.engine.client.containers.list(filters={"label": label}))


def service_ids(stack: EngineStack) -> dict[str, str]:
    return {
        logical: str(stack.engine.client.api.inspect_service(service_name(stack, logical))["ID"])
        for logical in WORKLOADS
    }


def steps(summary: Summary) -> set[tuple[str, str]]:
    return {(step.action.value, step.name) for step in summary.steps}


def wait_for_replicas(stack: EngineStack, logical: str, count: int) -> list[dict[str, Any]]:
    return poll_until(
        lambda: running_tasks(stack.engine, logical),
        lambda tasks: len(tasks) == count,
        timeout=REPLACEMENT_SECONDS,
        interval=1,
        message=lambda tasks: f"{logical}: {len(tasks)} of {count} tasks running",
    )


def leaked(text: str, secret_values: Iterable[str]) -> bool:
    # As written, and as JSON writes it (a PEM key's newlines escaped).
    return any(value in text or json.dumps(value)[1:-1] in text for value in secret_values)


def test_the_integration_suite_passes_through_the_swarm_gateway(swarm_stack: EngineStack) -> None:
    passed, report = run_integration_suite(swarm_stack.files.outputs)
    assert passed, f"tests/e2e failed against the swarm stack:\n{report}"


def test_every_workload_runs_its_replicas_and_the_stores_run_on_the_labelled_node(
    swarm_stack: EngineStack,
) -> None:
    client = swarm_stack.engine.client
    outputs = swarm_stack.outputs
    for logical in APPLICATIONS:
        tasks = running_tasks(swarm_stack.engine, logical)
        slots = {f"{service_name(swarm_stack, logical)}.{task['Slot']}" for task in tasks}
        assert slots == set(outputs["service_containers"][logical]), logical
    for store in ("postgres", "redis"):
        (task,) = running_tasks(swarm_stack.engine, store)
        labels = client.api.inspect_node(task["NodeID"])["Spec"].get("Labels") or {}
        assert labels.get(STORES_LABEL) == STORES_VALUE, store
    (gateway,) = running_tasks(swarm_stack.engine, "gateway")
    assert client.api.inspect_node(gateway["NodeID"])["Spec"]["Role"] == "manager"


def test_secrets_are_root_owned_files_and_in_no_spec_environment_or_log(
    swarm_stack: EngineStack,
) -> None:
    secret_values = swarm_stack.mocks.secret_values
    assert secret_values, "the harness recorded no generated secret to look for"
    api = swarm_stack.engine.client.api
    for logical in WORKLOADS:
        name = service_name(swarm_stack, logical)
        assert not leaked(json.dumps(api.inspect_service(name)), secret_values), name
        logs = b"".join(api.service_logs(name, stdout=True, stderr=True, tail=2000))
        assert not leaked(logs.decode(errors="replace"), secret_values), f"{name} logs"
        for container in task_containers(swarm_stack, logical):
            attrs = json.dumps(api.inspect_container(container.id))
            assert not leaked(attrs, secret_values), container.name
    (users,) = task_containers(swarm_stack, "users")[:1]
    for path in (DATABASE_PASSWORD_FILE, REDIS_PASSWORD_FILE):
        exit_code, output = run_in(users, "stat", "-c", "%a %u", path)
        assert (exit_code, output.split()) == (0, ["440", "0"]), path


def kill_main_process(container: Container) -> None:
    """SIGKILL from the host: a crash, which Swarm's restart policy answers with a new task."""
    container.reload()
    os.kill(container.attrs["State"]["Pid"], signal.SIGKILL)


def test_a_killed_task_is_replaced_by_swarm_and_costs_no_get(
    swarm_stack: EngineStack, report: Callable[[str], None]
) -> None:
    victim = task_containers(swarm_stack, "users")[0]

    def kill_and_wait() -> None:
        kill_main_process(victim)
        poll_until(
            lambda: {
                task["Status"]["ContainerStatus"]["ContainerID"]
                for task in running_tasks(swarm_stack.engine, "users")
            },
            lambda running: len(running) == 2 and victim.id not in running,
            timeout=REPLACEMENT_SECONDS,
            interval=1,
            message=lambda running: f"users: running task containers {running}",
        )

    _, load = GetLoad(swarm_stack.outputs).run_while(kill_and_wait)
    report(f"swarm: a killed users task under load: {load.describe()}")
    assert load.failed == 0, load.describe()


def test_a_code_change_rolls_onto_every_task_with_no_failed_get(
    swarm_stack: EngineStack, tmp_path: Path, report: Callable[[str], None]
) -> None:
    tree = copy_repository(tmp_path / "tree")
    changed = tree / "services/product-service/product_service/__init__.py"
    changed.write_text(changed.read_text() + "\n# a change applied by test_swarm\n")
    before = service_ids(swarm_stack)
    try:
        summary, load = GetLoad(swarm_stack.outputs).run_while(
            lambda: swarm_stack.apply(source=tree)
        )
        report(f"swarm: a rolling code update under load: {load.describe()}")
        assert load.failed == 0, load.describe()
        assert steps(summary) == {("update", "products-image"), ("update", "products")}
        assert service_ids(swarm_stack) == before, "an update, not a replacement"
        new_image = swarm_stack.outputs["images"]["products"]["id"]
        containers = task_containers(swarm_stack, "products")
        assert len(containers) == 2
        for container in containers:
            assert container.attrs["Image"] == new_image, container.name
    finally:
        swarm_stack.apply()


def test_two_to_four_replicas_is_an_update_of_each_service(
    swarm_stack: EngineStack, swarm_config: dict[str, Any], report: Callable[[str], None]
) -> None:
    before = service_ids(swarm_stack)
    try:
        summary, load = GetLoad(swarm_stack.outputs).run_while(
            lambda: swarm_stack.apply(swarm_config | {"microstack:serviceReplicas": 4})
        )
        report(f"swarm: 2 -> 4 replicas under load: {load.describe()}")
        assert load.failed == 0, load.describe()
        assert steps(summary) == {("update", logical) for logical in APPLICATIONS}
        assert service_ids(swarm_stack) == before
        for logical in APPLICATIONS:
            assert len(running_tasks(swarm_stack.engine, logical)) == 4, logical
            assert len(swarm_stack.outputs["service_containers"][logical]) == 4
    finally:
        swarm_stack.apply(swarm_config)
    for logical in APPLICATIONS:
        wait_for_replicas(swarm_stack, logical, 2)


BROKEN_HEALTH = '''

_create_app = create_app


def create_app(settings=None):  # type: ignore[no-redef]
    """test_swarm: an image whose healthcheck never passes (GET /health answers 503)."""
    from flask import request

    app = _create_app(settings)

    @app.before_request
    def refuse_health():
        if request.path == "/health":
            return {"status": "broken by test_swarm"}, 503
        return None

    return app
'''


def test_a_new_image_that_never_turns_healthy_is_rolled_back_and_the_old_tasks_serve(
    swarm_stack: EngineStack, tmp_path: Path, report: Callable[[str], None]
) -> None:
    tree = copy_repository(tmp_path / "tree")
    changed = tree / "services/product-service/product_service/__init__.py"
    changed.write_text(changed.read_text() + BROKEN_HEALTH)
    old_image = swarm_stack.outputs["images"]["products"]["id"]
    old_tasks = {task["ID"] for task in running_tasks(swarm_stack.engine, "products")}
    load = GetLoad(swarm_stack.outputs)
    try:
        with load, pytest.raises(ServiceFailedError, match="rollback_completed"):
            swarm_stack.apply(source=tree)
        assert load.result is not None
        report(f"swarm: a failing image rolled back under load: {load.result.describe()}")
        assert load.result.failed == 0, load.result.describe()
        # Start-first: the old tasks never stopped; the rollback removed only the new one.
        assert {task["ID"] for task in running_tasks(swarm_stack.engine, "products")} == old_tasks
        for container in task_containers(swarm_stack, "products"):
            assert container.attrs["Image"] == old_image, container.name
    finally:
        swarm_stack.apply()
