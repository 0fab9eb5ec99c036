"""PostgreSQL's data lives in its volume: a row written through the gateway survives the database
container being replaced (removed and created again from its declaration, as `pulumi up` does)."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
import requests

from tests.engine.probes import run_in, wait_for_gateway_health
from tests.engine.stack import EngineStack

pytestmark = pytest.mark.engine


def test_a_row_written_before_a_postgres_replacement_is_read_after(
    engine_stack: EngineStack, outputs: dict[str, Any], gateway: requests.Session
) -> None:
    username = f"persist_{secrets.token_hex(5)}"
    created = gateway.post(
        outputs["service_urls"]["users"],
        json={"username": username, "email": f"{username}@example.com"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    before = engine_stack.container("postgres").id

    engine_stack.recreate("postgres")

    assert engine_stack.container("postgres").id != before
    wait_for_gateway_health(gateway, outputs["health_url"])
    # Read in PostgreSQL itself, so the Redis cache cannot answer for it...
    exit_code, output = run_in(
        engine_stack.container("postgres"),
        *("psql", "--username=postgres", "--dbname=microstack", "--tuples-only", "--no-align"),
        f"--command=SELECT email FROM users WHERE id = {int(user_id)}",
    )
    assert (exit_code, output.strip()) == (0, f"{username}@example.com")
    # ...and through the gateway, as a client sees it.
    fetched = gateway.get(f"{outputs['service_urls']['users']}/{user_id}", timeout=10)
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["username"] == username
