"""Cache-aside in real Redis: keys, hits and misses, invalidation, read-your-writes, Redis down."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient
from servicekit.cache import Cache

from launchers.processes import free_port
from launchers.redis import RedisServer
from tests.service.assertions import assert_error
from tests.support.factories import ClientFactory

OwnRedis = Callable[..., RedisServer]


@pytest.fixture
def own_redis(scratch_directory: Callable[[str], Path]) -> Iterator[OwnRedis]:
    """Factory: a Redis this test may stop and start again on its port (the suite's stays up).

    ``persistence=True``: it comes back with its data (append-only file), stale entries included.
    """
    started: list[RedisServer] = []

    def start(*, persistence: bool = False) -> RedisServer:
        server = RedisServer(scratch_directory("redis-own"), persistence=persistence).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def products_on(make_client: ClientFactory, redis_server: RedisServer) -> FlaskClient:
    return make_client(
        "products", redis_port=redis_server.port, redis_password=redis_server.password
    )


def counters(client: FlaskClient) -> dict[str, Any]:
    cache: dict[str, Any] = client.get("/api/v1/stats").get_json()["cache"]
    return cache


def furniture_stock(client: FlaskClient, product_id: int) -> int:
    """The product's stock as a cached list read shows it."""
    listed = client.get("/api/v1/products?category=furniture").get_json()["items"]
    stock: int = next(item["stock"] for item in listed if item["id"] == product_id)
    return stock


def list_keys(store: redis.Redis, entity: str) -> list[str]:
    return sorted(key.decode() for key in store.scan_iter(f"{entity}:list:v*"))


def test_item_miss_then_hit_under_the_contract_key(
    products: FlaskClient, cache_store: redis.Redis
) -> None:
    first = products.get("/api/v1/products/7").get_json()
    assert json.loads(cache_store.get("product:7")) == first
    assert 300 <= cache_store.ttl("product:7") <= 330  # CACHE_ITEM_TTL_SECONDS plus jitter
    assert products.get("/api/v1/products/7").get_json() == first
    assert counters(products) == {"hits": 1, "misses": 1}


def test_a_cached_item_is_served_from_redis(
    products: FlaskClient, cache_store: redis.Redis, query: Any
) -> None:
    products.get("/api/v1/products/7")
    # Changed behind the service's back: proves the second read did not touch PostgreSQL.
    query("UPDATE products SET name = 'changed' WHERE id = 7")
    assert products.get("/api/v1/products/7").get_json()["name"] == "Office chair"


def test_a_document_larger_than_a_connection_read_buffer_is_read_whole(
    make_settings: Callable[..., Any], cache_store: redis.Redis
) -> None:
    """Connections read 16 KB at a time (cache.py): a larger document takes several reads."""
    document = json.dumps({"id": 9, "description": "x" * 200_000}).encode()
    cache_store.set("product:9", document)
    cache = Cache(make_settings("products", cache_local_max_bytes=0))
    for _ in range(3):  # Redis answers each time, on this thread's lookup connection
        assert cache.item_json("product", 9, dict) == document
    cache.close()


def test_lists_are_cached_per_generation_and_query(
    products: FlaskClient, cache_store: redis.Redis
) -> None:
    products.get("/api/v1/products?category=books")
    products.get("/api/v1/products?category=books")
    products.get("/api/v1/products?limit=5")
    keys = list_keys(cache_store, "product")
    assert len(keys) == 2
    assert all(key.startswith("product:list:v0:") for key in keys)
    assert 60 <= cache_store.ttl(keys[0]) <= 66
    assert counters(products) == {"hits": 1, "misses": 2}


def test_a_write_retires_lists_and_refills_the_item_with_the_committed_row(
    products: FlaskClient, cache_store: redis.Redis
) -> None:
    products.get("/api/v1/products")
    products.get("/api/v1/products/8")
    products.patch("/api/v1/products/8/stock", json={"stock": 9})
    assert cache_store.get("product:list:generation") == b"1"
    # The stale item is gone: the writer read the row again after its invalidation and stored it,
    # so the next read is a hit on the new row rather than a miss.
    assert json.loads(cache_store.get("product:8"))["stock"] == 9
    before = counters(products)
    assert products.get("/api/v1/products/8").get_json()["stock"] == 9
    assert counters(products)["hits"] == before["hits"] + 1
    listed = products.get("/api/v1/products").get_json()["items"]
    assert next(item for item in listed if item["id"] == 8)["stock"] == 9
    assert list_keys(cache_store, "product")[-1].startswith("product:list:v1:")


def test_read_your_writes_for_a_new_user(users: FlaskClient) -> None:
    assert users.get("/api/v1/users").get_json()["total"] == 4
    users.post("/api/v1/users", json={"username": "erin", "email": "erin@example.org"})
    assert users.get("/api/v1/users").get_json()["total"] == 5


def test_read_your_writes_for_stock(products: FlaskClient) -> None:
    assert products.get("/api/v1/products/8").get_json()["stock"] == 5
    for delta, expected in [(-2, 3), (4, 7), (-7, 0)]:
        products.patch("/api/v1/products/8/stock", json={"delta": delta})
        assert products.get("/api/v1/products/8").get_json()["stock"] == expected


def test_an_order_invalidates_the_product_in_the_other_service(
    products: FlaskClient, orders: FlaskClient
) -> None:
    assert products.get("/api/v1/products/8").get_json()["stock"] == 5
    books = products.get("/api/v1/products?category=furniture").get_json()["items"]
    assert [item["stock"] for item in books if item["id"] == 8] == [5]
    order = orders.post("/api/v1/orders", json={"user_id": 2, "product_id": 8, "quantity": 2})
    order_id = order.get_json()["id"]
    assert products.get("/api/v1/products/8").get_json()["stock"] == 3
    books = products.get("/api/v1/products?category=furniture").get_json()["items"]
    assert [item["stock"] for item in books if item["id"] == 8] == [3]
    orders.get(f"/api/v1/orders/{order_id}")
    orders.patch(f"/api/v1/orders/{order_id}/status", json={"status": "cancelled"})
    assert orders.get(f"/api/v1/orders/{order_id}").get_json()["status"] == "cancelled"
    assert products.get("/api/v1/products/8").get_json()["stock"] == 5


def test_order_lists_see_new_orders_and_status_changes(orders: FlaskClient) -> None:
    assert orders.get("/api/v1/orders?user_id=1").get_json()["total"] == 2
    orders.post("/api/v1/orders", json={"user_id": 1, "product_id": 9, "quantity": 1})
    assert orders.get("/api/v1/orders?user_id=1").get_json()["total"] == 3
    assert orders.get("/api/v1/orders?status=confirmed").get_json()["total"] == 2
    orders.patch("/api/v1/orders/4/status", json={"status": "confirmed"})
    assert orders.get("/api/v1/orders?status=confirmed").get_json()["total"] == 3


def test_a_failed_write_leaves_the_cache_alone(
    products: FlaskClient, cache_store: redis.Redis
) -> None:
    products.get("/api/v1/products/8")
    assert_error(products.patch("/api/v1/products/8/stock", json={"delta": -99}), 409)
    assert cache_store.get("product:list:generation") is None
    assert cache_store.exists("product:8")


def test_a_fill_that_raced_a_write_is_not_stored(
    make_settings: Callable[..., Any], cache_store: redis.Redis
) -> None:
    """The reader loaded the old row, then a writer committed and invalidated: drop the fill."""
    cache = Cache(make_settings("products"))

    def load_then_lose_the_race() -> dict[str, Any]:
        old_row = {"id": 8, "stock": 5}
        cache.invalidate("product", 8)  # the concurrent writer, after its commit
        return old_row

    assert cache.item("product", 8, load_then_lose_the_race) == {"id": 8, "stock": 5}
    assert cache_store.get("product:8") is None
    assert cache.item("product", 8, lambda: {"id": 8, "stock": 4}) == {"id": 8, "stock": 4}
    assert json.loads(cache_store.get("product:8")) == {"id": 8, "stock": 4}
    cache.close()


def test_a_refill_that_raced_another_write_is_not_stored(
    make_settings: Callable[..., Any], cache_store: redis.Redis
) -> None:
    """A writer's refill reads the row, then a second writer commits: the refill is dropped."""
    cache = Cache(make_settings("products"))

    def load_then_lose_the_race() -> dict[str, Any]:
        cache.invalidate("product", 8)  # the second writer, after its commit
        return {"id": 8, "stock": 5}

    cache.refresh("product", 8, load_then_lose_the_race)
    assert cache_store.get("product:8") is None
    cache.refresh("product", 8, lambda: {"id": 8, "stock": 4})
    assert json.loads(cache_store.get("product:8")) == {"id": 8, "stock": 4}
    cache.close()


def test_a_write_to_one_item_does_not_drop_a_concurrent_fill_of_another(
    make_settings: Callable[..., Any], cache_store: redis.Redis
) -> None:
    """Fills are guarded per item: another product's write leaves this fill standing."""
    cache = Cache(make_settings("products"))

    def load_while_another_item_changes() -> dict[str, Any]:
        cache.invalidate("product", 9)
        return {"id": 8, "stock": 5}

    cache.item("product", 8, load_while_another_item_changes)
    assert json.loads(cache_store.get("product:8")) == {"id": 8, "stock": 5}
    cache.close()


def test_without_redis_reads_and_writes_still_work(make_client: ClientFactory, query: Any) -> None:
    dead_port = free_port()
    products = make_client("products", redis_port=dead_port)
    orders = make_client("orders", redis_port=dead_port)
    health = products.get("/health")
    assert health.status_code == 200
    assert health.get_json()["status"] == "degraded"
    assert health.get_json()["checks"] == {"database": "ok", "cache": "unavailable"}
    assert products.get("/api/v1/products/8").get_json()["stock"] == 5
    created = orders.post("/api/v1/orders", json={"user_id": 1, "product_id": 8, "quantity": 1})
    assert created.status_code == 201
    assert products.get("/api/v1/products/8").get_json()["stock"] == 4
    assert products.patch("/api/v1/products/8/stock", json={"delta": 1}).status_code == 200
    assert products.get("/api/v1/products?category=furniture").status_code == 200
    assert counters(products) == {"hits": None, "misses": None}
    assert query("SELECT stock FROM products WHERE id = 8") == [{"stock": 5}]


def test_redis_stopping_and_coming_back(make_client: ClientFactory, own_redis: OwnRedis) -> None:
    redis_server = own_redis()
    products = products_on(make_client, redis_server)
    assert products.get("/health").get_json()["status"] == "ok"
    products.get("/api/v1/products/1")
    redis_server.stop()
    assert products.get("/health").get_json()["status"] == "degraded"
    assert products.get("/api/v1/products/1").status_code == 200
    assert products.patch("/api/v1/products/1/stock", json={"stock": 3}).status_code == 200
    assert products.get("/api/v1/products/1").get_json()["stock"] == 3
    redis_server.start()  # same port; no persistence, so it comes back empty
    assert products.get("/health").get_json()["status"] == "ok"
    assert products.get("/api/v1/products/1").get_json()["stock"] == 3
    assert counters(products) == {"hits": 0, "misses": 1}


def test_a_write_during_an_outage_is_seen_after_redis_returns_with_the_old_entries(
    make_client: ClientFactory, own_redis: OwnRedis
) -> None:
    redis_server = own_redis(persistence=True)
    products = products_on(make_client, redis_server)
    old_stock = products.get("/api/v1/products/8").get_json()["stock"]
    assert furniture_stock(products, 8) == old_stock
    redis_server.stop()
    new_stock = {"stock": old_stock + 7}
    assert products.patch("/api/v1/products/8/stock", json=new_stock).status_code == 200
    redis_server.start()
    store = redis_server.client()
    assert json.loads(store.get("product:8"))["stock"] == old_stock  # stale, and back
    assert products.get("/api/v1/products/8").get_json()["stock"] == old_stock + 7
    assert furniture_stock(products, 8) == old_stock + 7
    assert json.loads(store.get("product:8"))["stock"] == old_stock + 7  # refilled
    store.close()


def test_the_readiness_check_replays_failed_invalidations_for_other_processes(
    make_client: ClientFactory, own_redis: OwnRedis
) -> None:
    redis_server = own_redis(persistence=True)
    writer = products_on(make_client, redis_server)
    other_process = products_on(make_client, redis_server)
    assert writer.get("/api/v1/products/8").get_json()["stock"] == 5
    redis_server.stop()
    assert writer.patch("/api/v1/products/8/stock", json={"stock": 11}).status_code == 200
    redis_server.start()  # with product:8 at stock 5, from its append-only file
    assert writer.get("/health").get_json()["status"] == "ok"
    assert other_process.get("/api/v1/products/8").get_json()["stock"] == 11
