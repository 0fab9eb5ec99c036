"""The stores keep their data in volumes: a row written through the gateway survives the database
container being replaced (removed and created again from its declaration, as `pulumi up` does),
and so does a Redis key."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
import requests

from tests.engine.probes import create_user, query_row, run_in, wait_for_gateway_health
from tests.engine.stack import EngineStack

pytestmark = pytest.mark.engine


def test_a_row_written_before_a_postgres_replacement_is_read_after(
    engine_stack: EngineStack, outputs: dict[str, Any], gateway: requests.Session
) -> None:
    user = create_user(gateway, outputs["service_urls"]["users"], "persist")
    user_id, username = user["id"], user["username"]
    before = engine_stack.container("postgres").id

    engine_stack.recreate("postgres")

    assert engine_stack.container("postgres").id != before
    wait_for_gateway_health(gateway, outputs["health_url"])
    # Read in PostgreSQL itself, so the Redis cache cannot answer for it...
    email = query_row(
        engine_stack.container("postgres"), f"SELECT email FROM users WHERE id = {int(user_id)}"
    )
    assert email == [f"{username}@example.com"]
    # ...and through the gateway, as a client sees it.
    fetched = gateway.get(f"{outputs['service_urls']['users']}/{user_id}", timeout=10)
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["username"] == username


def test_a_redis_key_survives_a_redis_replacement_on_its_volume(
    engine_stack: EngineStack,
) -> None:
    key, value = f"engine-test:{secrets.token_hex(4)}", secrets.token_hex(8)
    assert redis_cli(engine_stack, "SET", key, value) == "OK"

    engine_stack.recreate("redis")

    assert redis_cli(engine_stack, "GET", key) == value


def redis_cli(engine_stack: EngineStack, *command: str) -> str:
    """redis-cli inside the container, authenticating from the uploaded config (never argv)."""
    script = (
        "REDISCLI_AUTH=\"$(sed -n 's/^requirepass //p' /usr/local/etc/redis/redis.conf)\" "
        'redis-cli --no-raw "$@"'
    )
    exit_code, output = run_in(
        engine_stack.container("redis"), "sh", "-c", script, "redis-cli", *command
    )
    assert exit_code == 0, output
    return output.strip().strip('"')
