"""Day two on the engine: changes applied to the running stack the way `pulumi up` applies them
(tests/engine/steps.py), under a 40/s GET load where the change touches what serves requests.

Each test that changes the stack puts it back before it ends, so the tests after it (and the
session's teardown) see the stack they expect.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from stackplan.diff import Action
from tests.engine.probes import create_user, query_row, wait_for_gateway_health
from tests.engine.stack import REPOSITORY, EngineStack, copy_repository, read_stack_config
from tests.engine.steps import Summary
from tests.support.load import GetLoad

pytestmark = pytest.mark.engine

POSTGRES_STAND_IN = "microstack-standin/postgres:15"
# Recovering from a PostgreSQL replacement: the services reconnect on their own, within this.
RECOVERY_SECONDS = 60
# After a change, the load must run clean for this long.
SETTLED_SECONDS = 3


@pytest.fixture
def ci_config() -> dict[str, Any]:
    return read_stack_config(REPOSITORY / "Pulumi.ci.yaml")


def container_ids(stack: EngineStack) -> dict[str, str]:
    client = stack.engine.client
    found = client.containers.list(filters={"label": stack.engine.label_filters})
    return {str(container.name): str(container.id) for container in found}


def steps(summary: Summary) -> set[tuple[str, str]]:
    return {(step.action.value, step.name) for step in summary.steps}


def replicas(outputs: dict[str, Any], service: str) -> list[str]:
    return list(outputs["service_containers"][service])


def test_a_second_up_with_no_change_performs_no_step(engine_stack: EngineStack) -> None:
    before = container_ids(engine_stack)

    summary = engine_stack.apply()

    assert summary.steps == (), summary.render()
    assert summary.unchanged > 0
    assert container_ids(engine_stack) == before


def test_a_service_memory_change_updates_exactly_the_service_replicas_in_place(
    engine_stack: EngineStack, ci_config: dict[str, Any]
) -> None:
    before = container_ids(engine_stack)
    service_containers = [
        name
        for service in ("users", "products", "orders")
        for name in replicas(engine_stack.outputs, service)
    ]
    try:
        summary = engine_stack.apply(ci_config | {"microstack:serviceMemoryMb": 320})

        # docker update, as the provider's resourceDockerContainerUpdate: same containers.
        prefix = f"{engine_stack.engine.scope.prefix}-"
        assert steps(summary) == {("update", n.removeprefix(prefix)) for n in service_containers}
        assert container_ids(engine_stack) == before
        client = engine_stack.engine.client
        for name in before:
            limit = client.api.inspect_container(name)["HostConfig"]["Memory"]
            expected = 320 if name in service_containers else None
            if expected is not None:
                assert limit == expected * 2**20, name
            else:
                assert limit != 320 * 2**20, name
    finally:
        restored = engine_stack.apply(ci_config)
    assert restored.count(Action.UPDATE) == len(service_containers)


@pytest.fixture
def postgres_tags(engine_stack: EngineStack) -> Iterator[tuple[str, str]]:
    """The stand-in under a second tag (same image ID) and a patched stand-in (a new image ID),
    as a registry's retag and a patch release would be; removed afterwards."""
    client = engine_stack.engine.client
    retag, patched = f"{POSTGRES_STAND_IN}-retag", f"{POSTGRES_STAND_IN}-patched"
    client.images.get(POSTGRES_STAND_IN).tag(retag)
    recipe = f"FROM {POSTGRES_STAND_IN}\nLABEL microstack.test=patched\n".encode()
    client.images.build(fileobj=io.BytesIO(recipe), tag=patched, rm=True)
    yield retag, patched
    for tag in (retag, patched):
        client.images.remove(tag)


def row_counts(stack: EngineStack) -> tuple[int, ...]:
    query = (
        "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM products), "
        "(SELECT count(*) FROM orders)"
    )
    return tuple(int(count) for count in query_row(stack.container("postgres"), query))


def test_a_postgres_image_tag_change_keeps_every_row_and_the_services_recover(
    engine_stack: EngineStack,
    ci_config: dict[str, Any],
    postgres_tags: tuple[str, str],
    gateway: requests.Session,
    report: Callable[[str], None],
) -> None:
    retag, patched = postgres_tags
    outputs = engine_stack.outputs
    user = create_user(gateway, outputs["service_urls"]["users"], "daytwo")
    rows = row_counts(engine_stack)
    before = container_ids(engine_stack)
    postgres = f"{engine_stack.engine.scope.prefix}-postgres"
    try:
        # A new tag of the same image: the RemoteImage is replaced, but the container runs the
        # image ID, which did not change, so the provider leaves it alone.
        same_id = engine_stack.apply(ci_config | {"microstack:postgresImage": retag})
        assert steps(same_id) == {("replace", "postgres-image")}
        assert container_ids(engine_stack) == before

        with GetLoad(outputs) as load:
            summary = engine_stack.apply(ci_config | {"microstack:postgresImage": patched})
        result = load.result
        assert result is not None
        report(f"PostgreSQL image change under load: {result.describe()}")
        assert steps(summary) == {("replace", "postgres-image"), ("replace", "postgres")}
        after = container_ids(engine_stack)
        assert after[postgres] != before[postgres]
        assert {n: i for n, i in after.items() if n != postgres} == {
            n: i for n, i in before.items() if n != postgres
        }, "only the PostgreSQL container may be replaced: the services recover in place"
        assert result.failed <= result.sent // 2, result.describe()

        wait_for_gateway_health(gateway, outputs["health_url"], timeout=RECOVERY_SECONDS)
        settled = GetLoad(outputs).run_for(SETTLED_SECONDS)
        assert settled.failed == 0, settled.describe()
        assert row_counts(engine_stack) == rows
        fetched = gateway.get(f"{outputs['service_urls']['users']}/{user['id']}")
        assert fetched.status_code == 200 and fetched.json()["username"] == user["username"]
    finally:
        engine_stack.apply(ci_config)
        wait_for_gateway_health(gateway, outputs["health_url"], timeout=RECOVERY_SECONDS)


def test_a_code_change_to_one_service_replaces_only_its_image_and_replicas(
    engine_stack: EngineStack,
    tmp_path: Path,
    gateway: requests.Session,
    report: Callable[[str], None],
) -> None:
    tree = copy_repository(tmp_path / "tree")
    changed = tree / "services/product-service/product_service/__init__.py"
    changed.write_text(changed.read_text() + "\n# a change applied by test_day_two\n")
    before = container_ids(engine_stack)
    products = replicas(engine_stack.outputs, "products")
    prefix = f"{engine_stack.engine.scope.prefix}-"
    try:
        summary, load = GetLoad(engine_stack.outputs).run_while(
            lambda: engine_stack.apply(source=tree)
        )
        report(f"one service's code change under load: {load.describe()}")
        # Replaced one replica at a time (infra/service.py): the service never stops.
        assert load.failed == 0, load.describe()

        assert steps(summary) == {("update", "products-image")} | {
            ("replace", name.removeprefix(prefix)) for name in products
        }
        after = container_ids(engine_stack)
        assert {n for n in before if before[n] != after.get(n)} == set(products)
        client = engine_stack.engine.client
        new_image = engine_stack.outputs["images"]["products"]["id"]
        for name in products:
            assert client.api.inspect_container(name)["Image"] == new_image, name
    finally:
        engine_stack.apply()
        wait_for_gateway_health(gateway, engine_stack.outputs["health_url"])
