"""PostgreSQL and Redis are unreachable from the host unless published; only the gateway is.

On Linux the host routes to every bridge subnet, internal ones included, so "unreachable from the
host" means what it means for a real `pulumi up`: no published port. The network checks below are
made from the containers, where the internal backend network does isolate.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest
import redis

from tests.engine.probes import can_connect
from tests.engine.stack import REPOSITORY, EngineStack, read_stack_config, up

pytestmark = pytest.mark.engine
SERVICE_REPLICAS = tuple(f"{s}-{n}" for s in ("users", "products", "orders") for n in (1, 2))
STACK_CONTAINERS = ("postgres", "redis", *SERVICE_REPLICAS, "gateway")
# A second stack on the same engine: its own names and ports, the stores published to loopback.
PUBLISHED_STACK = "ci-published"
PUBLISHED_CONFIG = {
    "gatewayHttpsPort": 28443,
    "gatewayHttpPort": 28080,
    "publishPostgres": True,
    "postgresHostPort": 25432,
    "publishRedis": True,
    "redisHostPort": 26379,
}


def host_bindings(stack: EngineStack, logical: str) -> list[tuple[str, str]]:
    ports = stack.container(logical).attrs["NetworkSettings"]["Ports"] or {}
    return [
        (binding["HostIp"], binding["HostPort"])
        for bindings in ports.values()
        for binding in bindings or []
    ]


def test_only_the_gateway_publishes_ports_and_only_on_loopback(engine_stack: EngineStack) -> None:
    published = {name: host_bindings(engine_stack, name) for name in STACK_CONTAINERS}
    assert sorted(published.pop("gateway")) == [("127.0.0.1", "18080"), ("127.0.0.1", "18443")]
    assert published == {name: [] for name in published}


def test_stores_join_only_the_internal_backend_network(engine_stack: EngineStack) -> None:
    backend = engine_stack.outputs["networks"]["backend"]
    assert engine_stack.engine.client.networks.get(backend).attrs["Internal"] is True
    for store in ("postgres", "redis"):
        networks = engine_stack.container(store).attrs["NetworkSettings"]["Networks"]
        assert set(networks) == {backend}, store


def test_gateway_cannot_reach_the_stores(engine_stack: EngineStack) -> None:
    gateway = engine_stack.container("gateway")
    for store, port in (("postgres", 5432), ("redis", 6379)):
        address = backend_address(engine_stack, store)
        assert not can_connect(gateway, store, port), f"gateway resolves and reaches {store}"
        assert not can_connect(gateway, address, port), f"gateway reaches {store} at {address}"
    # The control: the services, on both networks, do reach them.
    users = engine_stack.container("users-1")
    assert can_connect(users, "postgres", 5432)


def test_stores_have_no_route_out_of_the_backend(engine_stack: EngineStack) -> None:
    frontend = engine_stack.outputs["networks"]["frontend"]
    gateway_address = engine_stack.container("gateway").attrs["NetworkSettings"]["Networks"][
        frontend
    ]["IPAddress"]
    postgres = engine_stack.container("postgres")
    assert not can_connect(postgres, gateway_address, 8443)


def backend_address(stack: EngineStack, logical: str) -> str:
    networks = stack.container(logical).attrs["NetworkSettings"]["Networks"]
    return str(networks[stack.outputs["networks"]["backend"]]["IPAddress"])


@pytest.fixture(scope="module")
def published_stack(base_images: None) -> Iterator[EngineStack]:
    config = read_stack_config(REPOSITORY / "Pulumi.ci.yaml") | {
        f"microstack:{key}": value for key, value in PUBLISHED_CONFIG.items()
    }
    stack = up(PUBLISHED_STACK, config)
    yield stack
    stack.down()


def test_published_stores_are_reachable_on_loopback_only(published_stack: EngineStack) -> None:
    outputs: dict[str, Any] = published_stack.outputs
    assert outputs["postgres"]["host"] == "127.0.0.1" and outputs["postgres"]["port"] == 25432
    assert outputs["redis"]["host"] == "127.0.0.1" and outputs["redis"]["port"] == 26379
    assert host_bindings(published_stack, "postgres") == [("127.0.0.1", "25432")]
    connection = psycopg2.connect(
        host="127.0.0.1",
        port=25432,
        dbname=outputs["postgres"]["database"],
        user=outputs["postgres"]["user"],
        password=outputs["postgres_password"],
        connect_timeout=5,
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM users")
            assert cursor.fetchone()[0] >= 1
    finally:
        connection.close()
    client = redis.Redis(host="127.0.0.1", port=26379, password=outputs["redis_password"])
    assert client.ping() is True
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=26379, password="wrong").ping()


def test_keeping_data_on_teardown_keeps_only_the_volumes(published_stack: EngineStack) -> None:
    left = published_stack.down(keep_data=True)
    assert left == []
    volumes = published_stack.engine.client.volumes.list(
        filters={"label": published_stack.engine.label_filters}
    )
    assert sorted(volume.name for volume in volumes) == sorted(
        published_stack.outputs["volumes"].values()
    )
    assert published_stack.down() == []
