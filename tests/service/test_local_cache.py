"""Each process's local copy of cached documents (servicekit/local_cache.py) against real Redis.

The copy answers without a round trip to Redis, so these tests prove it is never stale: within
one process, across processes (separate gunicorn trees sharing Redis and PostgreSQL) and across
services, after Redis changes behind its back, flushes, kills its tracking connection or
restarts. ``evalsha_calls`` (Redis' own command statistics) proves reads were answered locally.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from flask.testing import FlaskClient
from servicekit.cache import Cache

from launchers.gunicorn import GunicornServer
from launchers.redis import RedisServer
from tests.support.factories import ClientFactory, Query, ServiceStarter

ITERATIONS = 200
TRACKING_CLIENT = "products-invalidations"


def evalsha_calls(store: redis.Redis) -> int:
    """How many cached reads Redis has answered so far (each is one EVALSHA)."""
    stats: dict[str, Any] = store.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


def answered_locally(store: redis.Redis, read: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Read until a read no longer reaches Redis (the copy is tracking and holds the value)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = evalsha_calls(store)
        value = read()
        if evalsha_calls(store) == before:
            return value
        time.sleep(0.05)
    raise AssertionError(f"reads still reach Redis after {timeout} s")


def kill_tracking_connections(store: redis.Redis) -> int:
    killed = 0
    for client in store.client_list():
        if client["name"] == TRACKING_CLIENT:
            killed += store.client_kill_filter(_id=client["id"])
    return killed


def product(client: FlaskClient, product_id: int) -> dict[str, Any]:
    document: dict[str, Any] = client.get(f"/api/v1/products/{product_id}").get_json()
    return document


@pytest.fixture
def own_redis(scratch_directory: Callable[[str], Path]) -> Iterator[RedisServer]:
    """A Redis this test may restart on its port (the suite's stays up)."""
    server = RedisServer(scratch_directory("redis-local-cache")).start()
    yield server
    server.stop()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def test_a_repeated_read_is_answered_locally_and_counted_as_a_hit(
    products: FlaskClient, cache_store: redis.Redis, query: Query
) -> None:
    first = answered_locally(cache_store, lambda: product(products, 7))
    # Changed behind the service's back: neither PostgreSQL nor Redis is asked again.
    query("UPDATE products SET name = 'changed' WHERE id = 7")
    before = evalsha_calls(cache_store)
    for _ in range(10):
        assert product(products, 7) == first
    assert evalsha_calls(cache_store) == before
    stats = products.get("/api/v1/stats").get_json()["cache"]
    assert stats["misses"] == 1
    assert stats["hits"] >= 10  # every read but the first, local or not, is a hit


def test_a_change_in_redis_reaches_the_local_copy_before_the_next_read(
    products: FlaskClient, cache_store: redis.Redis
) -> None:
    answered_locally(cache_store, lambda: product(products, 7))
    for stock in range(20):
        cache_store.set("product:7", json.dumps({"id": 7, "stock": stock}))
        cache_store.ping()  # what every writer does after its invalidation (cache.py)
        assert product(products, 7) == {"id": 7, "stock": stock}


def test_a_flushed_redis_empties_the_local_copy(
    products: FlaskClient, cache_store: redis.Redis, query: Query
) -> None:
    answered_locally(cache_store, lambda: product(products, 7))
    query("UPDATE products SET name = 'changed' WHERE id = 7")
    cache_store.flushall()
    cache_store.ping()
    assert product(products, 7)["name"] == "changed"


def test_lists_in_the_local_copy_follow_the_generation(
    products: FlaskClient, cache_store: redis.Redis
) -> None:
    answered_locally(cache_store, lambda: products.get("/api/v1/products?limit=5").get_json())
    for stock in range(3):
        products.patch("/api/v1/products/2/stock", json={"stock": stock})
        listed = products.get("/api/v1/products?limit=5").get_json()["items"]
        assert next(item["stock"] for item in listed if item["id"] == 2) == stock


def test_lists_of_a_generation_that_moved_on_leave_the_local_copy(
    make_settings: Callable[..., Any], cache_store: redis.Redis
) -> None:
    """No lookup can reach a list stored under a past generation: it must not keep the copy's
    room until Redis expires it (a process that lists while it writes would fill the copy)."""
    cache = Cache(make_settings("products"))
    document = {"items": [{"id": n, "name": "x" * 100} for n in range(20)]}
    one_list = len(json.dumps(document))
    for limit in range(1, 11):
        answered_locally(
            cache_store,
            lambda limit=limit: cache.listing_json("product", {"limit": limit}, lambda: document),
        )
    assert cache._local.size > 10 * one_list

    cache_store.incr("product:list:generation")  # a write, in any process
    cache_store.ping()
    cache.item_json("product", 1, lambda: {"id": 1})  # any read applies what arrived
    assert cache._local.size < one_list
    cache.close()


def test_a_value_read_before_an_invalidation_is_not_kept(
    make_settings: Callable[..., Any], cache_store: redis.Redis
) -> None:
    """Redis answered the old value, then a writer changed it before the copy stored it."""
    cache_store.set("product:8", b'{"stock":5}')
    cache = Cache(make_settings("products"))
    answered_locally(cache_store, lambda: cache.item_json("product", 8, dict))
    cache.invalidate("product", 8)  # drops it here; the next read goes to Redis
    cache_store.set("product:8", b'{"stock":5}')
    read = cache._run_lookup

    def read_then_lose_the_race(*args: Any) -> Any:
        old = read(*args)
        cache_store.set("product:8", b'{"stock":4}')  # the writer, after its commit
        cache_store.ping()
        return old

    cache._run_lookup = read_then_lose_the_race  # type: ignore[method-assign]
    assert cache.item_json("product", 8, dict) == b'{"stock":5}'  # this read's answer
    cache._run_lookup = read  # type: ignore[method-assign]
    assert cache.item_json("product", 8, dict) == b'{"stock":4}'  # not the old one, kept
    cache.close()


def test_a_killed_tracking_connection_never_leaves_a_stale_read(
    make_client: ClientFactory, cache_store: redis.Redis
) -> None:
    writer, reader = make_client("products"), make_client("products")
    for stock in range(10):
        answered_locally(cache_store, lambda: product(reader, 8))
        assert kill_tracking_connections(cache_store) >= 1
        writer.patch("/api/v1/products/8/stock", json={"stock": stock})
        assert product(reader, 8)["stock"] == stock
        # And once tracking is back, the copy holds the new value, not one kept from before.
        assert answered_locally(cache_store, lambda: product(reader, 8))["stock"] == stock


def test_a_restarted_redis_never_leaves_a_stale_read(
    make_client: ClientFactory, own_redis: RedisServer
) -> None:
    on_own_redis = {"redis_port": own_redis.port, "redis_password": own_redis.password}
    writer = make_client("products", **on_own_redis)
    reader = make_client("products", **on_own_redis)
    store = own_redis.client()
    answered_locally(store, lambda: product(reader, 8))
    own_redis.stop()
    own_redis.start()  # empty; the reader's tracking connection is gone
    writer.patch("/api/v1/products/8/stock", json={"stock": 42})
    assert product(reader, 8)["stock"] == 42
    store.close()


@pytest.fixture
def two_product_services(start_service: ServiceStarter) -> tuple[GunicornServer, GunicornServer]:
    """Two gunicorn trees of the product service (two workers each) on the same data."""
    return start_service("products"), start_service("products")


def test_a_write_through_one_process_is_read_through_another(
    two_product_services: tuple[GunicornServer, GunicornServer],
    http: requests.Session,
    cache_store: redis.Redis,
) -> None:
    writer, reader = two_product_services
    reads_before, reads = evalsha_calls(cache_store), 0
    for stock in range(ITERATIONS):
        for _ in range(2):  # the old value, likely from the reader's local copy
            http.get(f"{reader.url}/api/v1/products/3").raise_for_status()
        patch = http.patch(f"{writer.url}/api/v1/products/3/stock", json={"stock": stock})
        assert patch.json()["stock"] == stock
        assert http.get(f"{reader.url}/api/v1/products/3").json()["stock"] == stock
        reads += 3
    assert evalsha_calls(cache_store) - reads_before < reads  # some reads were answered locally


def test_a_created_product_is_listed_through_another_process(
    two_product_services: tuple[GunicornServer, GunicornServer], http: requests.Session
) -> None:
    writer, reader = two_product_services
    listing = f"{reader.url}/api/v1/products?category=garden&limit=1"
    for created in range(1, ITERATIONS + 1):
        http.get(listing).raise_for_status()
        new = {"name": f"rake {created}", "category": "garden", "price": "9.50", "stock": 1}
        http.post(f"{writer.url}/api/v1/products", json=new).raise_for_status()
        assert http.get(listing).json()["total"] == created


def test_an_order_in_the_other_service_is_seen_through_another_product_process(
    start_service: ServiceStarter, http: requests.Session
) -> None:
    products, orders = start_service("products"), start_service("orders")
    item = f"{products.url}/api/v1/products/9"
    http.patch(f"{item}/stock", json={"stock": ITERATIONS}).raise_for_status()
    for taken in range(1, ITERATIONS + 1):
        http.get(item).raise_for_status()
        order = {"user_id": 1, "product_id": 9, "quantity": 1}
        http.post(f"{orders.url}/api/v1/orders", json=order).raise_for_status()
        assert http.get(item).json()["stock"] == ITERATIONS - taken
