"""A service under gunicorn: PostgreSQL outages, start-up order, shutdown, healthcheck, logs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient
from product_service import create_app
from servicekit.app import after_fork, shutdown

from launchers.database import bootstrap_application_database
from launchers.gunicorn import GunicornServer
from launchers.paths import SERVICES_DIR
from launchers.postgres import PostgresServer

StartService = Callable[..., GunicornServer]
HEALTH_DEADLINE_SECONDS = 2.0


@pytest.fixture
def own_postgres(
    scratch_directory: Callable[[str], Path], app_role_password_file: Path
) -> Iterator[PostgresServer]:
    """A PostgreSQL this test may stop: the suite's shared server must stay up."""
    server = PostgresServer(scratch_directory("postgres-outage")).start()
    server.create_database("microstack")
    bootstrap_application_database(server, app_role_password_file)
    yield server
    server.stop()


@pytest.fixture
def silent_database() -> Iterator[socket.socket]:
    """A loopback listener that completes TCP handshakes but never says a word: to libpq, a
    PostgreSQL host whose answers are dropped. Never accepted here, so the test can count them."""
    with socket.create_server(("127.0.0.1", 0), backlog=32) as listener:
        yield listener


def connections_received(listener: socket.socket) -> int:
    listener.setblocking(False)
    received = []
    while True:
        try:
            received.append(listener.accept()[0])
        except BlockingIOError:
            break
    for connection in received:
        connection.close()
    return len(received)


def database_environment(server: PostgresServer) -> dict[str, str]:
    """Point a service at ``server``'s `microstack` database instead of the suite's."""
    return {
        "DATABASE_HOST": server.host,
        "DATABASE_PORT": str(server.port),
        "DATABASE_NAME": "microstack",
    }


def container_healthcheck(port: int) -> int:
    """`python -m servicekit.healthcheck`, as the image's HEALTHCHECK runs it."""
    env = {**os.environ, "PORT": str(port), "PYTHONPATH": str(SERVICES_DIR)}
    command = [sys.executable, "-m", "servicekit.healthcheck"]
    return subprocess.run(command, env=env, capture_output=True, timeout=10, check=False).returncode


def wait_for_health(url: str, attempts: int = 50) -> requests.Response:
    response = requests.get(f"{url}/health", timeout=3)
    for _ in range(attempts):
        if response.status_code == 200:
            break
        time.sleep(0.2)
        response = requests.get(f"{url}/health", timeout=3)
    return response


def test_postgres_outage_is_503_fast_then_recovers(
    start_service: StartService, own_postgres: PostgresServer
) -> None:
    service = start_service(
        "products", **database_environment(own_postgres), GUNICORN_WORKERS="1", GUNICORN_THREADS="4"
    )
    products = f"{service.url}/api/v1/products"
    assert requests.get(f"{products}/1", timeout=3).status_code == 200  # now cached
    for _ in range(8):  # fill the pool: every connection goes stale in the outage
        assert requests.get(f"{products}?offset=1", timeout=3).status_code == 200
    assert container_healthcheck(service.port) == 0

    own_postgres.stop()
    started = time.perf_counter()
    health = requests.get(f"{service.url}/health", timeout=5)
    assert time.perf_counter() - started < HEALTH_DEADLINE_SECONDS
    assert health.status_code == 503
    assert health.json() == {
        "status": "unavailable",
        "service": "products",
        "checks": {"database": "unavailable", "cache": "ok"},
    }
    uncached = requests.get(f"{products}/2", timeout=5)
    assert (uncached.status_code, uncached.json()["error"]["code"]) == (503, "database_unavailable")
    write = requests.patch(f"{products}/2/stock", json={"stock": 1}, timeout=5)
    assert write.status_code == 503
    assert requests.get(f"{products}/1", timeout=5).status_code == 200  # served from Redis
    assert container_healthcheck(service.port) == 1

    own_postgres.start()
    assert wait_for_health(service.url).status_code == 200
    # More requests than pooled connections: each stale one is replaced, none surfaces as an error.
    for _ in range(8):
        assert requests.get(f"{products}/2", timeout=3).status_code == 200
    assert requests.patch(f"{products}/2/stock", json={"stock": 1}, timeout=3).status_code == 200


def test_service_starts_before_postgres_and_then_serves(
    start_service: StartService,
    scratch_directory: Callable[[str], Path],
    app_role_password_file: Path,
) -> None:
    """Nothing connects at start-up, so the container may start before the database is up."""
    late = PostgresServer(scratch_directory("postgres-late"))
    service = start_service("users", **database_environment(late), GUNICORN_WORKERS="1")
    try:
        assert requests.get(f"{service.url}/health", timeout=5).status_code == 503
        assert requests.get(f"{service.url}/health/live", timeout=5).status_code == 200
        late.start()
        late.create_database("microstack")
        bootstrap_application_database(late, app_role_password_file)
        assert wait_for_health(service.url).status_code == 200
        assert requests.get(f"{service.url}/api/v1/users", timeout=5).json()["total"] == 4
    finally:
        late.stop()


def test_sigterm_finishes_cleanly_and_logs_are_json_lines(start_service: StartService) -> None:
    service = start_service("orders", LOG_LEVEL="INFO", GUNICORN_WORKERS="1")
    response = requests.get(
        f"{service.url}/api/v1/orders/1", headers={"X-Request-ID": "probe-42"}, timeout=5
    )
    assert response.headers["X-Request-ID"] == "probe-42"
    service.stop()  # SIGTERM to the arbiter: graceful shutdown
    assert service.process is not None
    assert service.process.popen.returncode == 0
    # Every line, gunicorn's own included: a container's log is JSON lines only.
    lines = [json.loads(line) for line in service.log_path.read_text().splitlines()]
    gunicorn_messages = [line["message"] for line in lines if line["logger"] == "gunicorn.error"]
    for expected in ("Starting gunicorn", "Listening at", "Booting worker", "Shutting down"):
        assert any(message.startswith(expected) for message in gunicorn_messages), expected
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    assert not any(
        line["logger"] == "gunicorn.access" for line in lines
    )  # servicekit logs requests
    request_lines = [line for line in lines if line.get("request_id") == "probe-42"]
    # The requests of the master's warm-up (servicekit/warm_up.py) write no line.
    assert not any(line.get("request_id") == "warm-up" for line in lines)
    assert len(request_lines) == 1
    assert {"method": "GET", "path": "/api/v1/orders/1", "status": 200}.items() <= request_lines[
        0
    ].items()
    assert "duration_ms" in request_lines[0]


def test_huge_body_over_a_real_socket_is_a_json_413(
    start_service: StartService, query: Callable[..., list[dict[str, object]]]
) -> None:
    service = start_service("users", GUNICORN_WORKERS="1")
    huge = b'{"username": "' + b"a" * (2 * 1024 * 1024) + b'", "email": "a@example.com"}'
    response = requests.post(
        f"{service.url}/api/v1/users",
        data=huge,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_entity_too_large"
    assert query("SELECT count(*) AS n FROM users") == [{"n": 4}]


def test_health_is_503_within_the_deadline_when_the_database_never_answers(
    make_client: Callable[..., FlaskClient], silent_database: socket.socket
) -> None:
    """libpq's connect_timeout cannot go below 2 s: the check itself must be bounded."""
    users = make_client(
        "users", database_host="127.0.0.1", database_port=silent_database.getsockname()[1]
    )

    def timed_health() -> tuple[float, int, dict[str, object]]:
        started = time.perf_counter()
        response = users.get("/health")
        return time.perf_counter() - started, response.status_code, response.get_json()

    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda _: timed_health(), range(4)))
    for elapsed, status, body in answers:
        assert elapsed < HEALTH_DEADLINE_SECONDS
        assert (status, body["checks"]) == (503, {"database": "unavailable", "cache": "ok"})
    # Four concurrent checks share one attempt: a hung database does not pile up connections.
    assert connections_received(silent_database) == 1


def test_a_worker_gets_its_own_connections_after_the_fork(
    make_settings: Callable[..., Any],
) -> None:
    """With preload_app the workers inherit the master's app: nothing connected may cross."""
    app = create_app(make_settings("products"))
    cache = app.extensions["servicekit.cache"]
    cache._client.ping()  # a connection in the "master", which the worker must not use
    inherited = cache._client.connection_pool
    assert len(inherited._available_connections) == 1
    after_fork(app)
    # The client is kept (building one per worker copies pages it shares with the master); its
    # pool starts over, and the read path's connections and the local copy are new.
    assert cache._client.connection_pool is inherited
    assert inherited._available_connections == [] and inherited._in_use_connections == set()
    with app.test_client() as client:
        assert client.get("/api/v1/products/1").status_code == 200
    with pytest.raises(RuntimeError, match="before the fork"):
        after_fork(app)  # the pool now exists: a fork from here would share its connections
    shutdown(app)
