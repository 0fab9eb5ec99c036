"""Service fixtures: the three apps against real PostgreSQL and Redis (tests/conftest.py).

Isolation: every test starts from init.sql's sample data (tables truncated and reloaded) and an
empty Redis.
Most tests drive the apps in-process through Flask's test client (real pool, real cache, real SQL);
``start_service`` runs one under gunicorn on a free loopback port when sockets and threads matter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg2.extras
import pytest
import redis
from flask.testing import FlaskClient
from servicekit.app import shutdown
from servicekit.contract import SERVICES, Endpoint, ServiceEnvironment
from servicekit.settings import Settings

from launchers.gunicorn import GunicornServer
from launchers.paths import service_directory
from launchers.postgres import PostgresServer
from launchers.processes import write_secret
from launchers.redis import RedisServer
from tests.support.database import ApplicationDatabase, reload_sample_data
from tests.support.factories import ClientFactory, Query, ServiceStarter, SettingsFactory


@pytest.fixture(scope="session")
def services_database(
    postgres_server: PostgresServer, app_role_password_file: Path
) -> Iterator[ApplicationDatabase]:
    """One database for the whole service suite, loaded by the real bootstrap (init.sql + role)."""
    name = postgres_server.create_database("service_tests")
    yield ApplicationDatabase.bootstrap(postgres_server, name, app_role_password_file)
    postgres_server.drop_database(name)


@pytest.fixture
def database(
    postgres_server: PostgresServer, services_database: ApplicationDatabase
) -> ApplicationDatabase:
    """The suite's database, reset to exactly the sample data of init.sql before each test.

    Cheaper than a database per test (CREATE DATABASE + psql cost ~0.3 s); the sample data is the
    marked section of init.sql itself, so the tests cannot drift from what a real stack loads.
    """
    reload_sample_data(postgres_server, services_database)
    return services_database


@pytest.fixture
def cache_store(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis_server.client()
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def make_settings(
    database: ApplicationDatabase, redis_server: RedisServer, cache_store: redis.Redis
) -> SettingsFactory:
    def make(service: str, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "service_name": service,
            "database_host": database.host,
            "database_port": database.port,
            "database_name": database.name,
            "database_user": database.user,
            "database_password": database.password,
            "redis_host": redis_server.host,
            "redis_port": redis_server.port,
            "redis_password": redis_server.password,
            "log_level": "WARNING",
            **overrides,
        }
        return Settings(**values)

    return make


@pytest.fixture
def make_client(make_settings: SettingsFactory) -> Iterator[ClientFactory]:
    """Factory: an app built by the service's own ``create_app(settings)``, as a test client."""
    apps: list[Any] = []

    def make(service: str, **overrides: Any) -> FlaskClient:
        module = __import__(SERVICES[service].package)
        app = module.create_app(make_settings(service, **overrides))
        apps.append(app)
        return app.test_client()

    yield make
    for app in apps:
        shutdown(app)


@pytest.fixture
def users(make_client: ClientFactory) -> FlaskClient:
    return make_client("users")


@pytest.fixture
def products(make_client: ClientFactory) -> FlaskClient:
    return make_client("products")


@pytest.fixture
def orders(make_client: ClientFactory) -> FlaskClient:
    return make_client("orders")


@pytest.fixture
def query(postgres_server: PostgresServer, database: ApplicationDatabase) -> Iterator[Query]:
    """Read the database behind the services' backs, as the superuser, to check what was written."""
    connection = postgres_server.connect(database.name)
    connection.autocommit = True

    def run(sql: str, params: Any = None) -> list[dict[str, Any]]:
        with connection.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cursor:
            cursor.execute(sql, params)
            return [dict(row) for row in cursor.fetchall()] if cursor.description else []

    yield run
    connection.close()


@pytest.fixture
def start_service(
    database: ApplicationDatabase,
    redis_server: RedisServer,
    cache_store: redis.Redis,
    scratch_directory: Callable[[str], Path],
) -> Iterator[ServiceStarter]:
    """Factory: a service under gunicorn (servicekit.gunicorn_config) on a free loopback port."""
    started: list[GunicornServer] = []
    run_dir = scratch_directory("gunicorn")
    redis_password_file = write_secret(run_dir / "redis-password", redis_server.password)

    base = ServiceEnvironment(
        database=Endpoint(database.host, database.port),
        database_name=database.name,
        database_user=database.user,
        database_password_file=str(database.password_file),
        redis=Endpoint(redis_server.host, redis_server.port),
        redis_password_file=str(redis_password_file),
        log_level="WARNING",
    ).variables()

    def start(service: str, **environment: str) -> GunicornServer:
        """``environment``: variables over the contract's, e.g. ``GUNICORN_WORKERS="1"``."""
        definition = SERVICES[service]
        server = GunicornServer(
            definition.package, service_directory(definition), run_dir, base | environment
        )
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()
