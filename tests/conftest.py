"""Fixtures shared by every suite: real throwaway PostgreSQL and Redis on free loopback ports."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from launchers.postgres import PostgresServer
from launchers.processes import generate_password, write_secret
from launchers.redis import RedisServer
from tests.support.binaries import binaries_required
from tests.support.database import ApplicationDatabase


@pytest.fixture(scope="session")
def scratch_directory() -> Iterator[Callable[[str], Path]]:
    """Make directories under the system temp dir, removed at the end of the session.

    Not pytest's tmp_path: its root is private to root (0700), and PostgreSQL runs as `postgres`.
    """
    root = Path(tempfile.mkdtemp(prefix="microstack-tests-"))
    root.chmod(0o755)

    def make(name: str) -> Path:
        directory = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=root))
        directory.chmod(0o755)  # traversable by `postgres`; secrets inside are 0600 files
        return directory

    yield make
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server(scratch_directory: Callable[[str], Path]) -> Iterator[PostgresServer]:
    server = PostgresServer(scratch_directory("postgres"))
    with binaries_required():
        server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server(scratch_directory: Callable[[str], Path]) -> Iterator[RedisServer]:
    server = RedisServer(scratch_directory("redis"))
    with binaries_required():
        server.start()
    yield server
    server.stop()


@pytest.fixture
def fresh_database(postgres_server: PostgresServer) -> Iterator[Callable[[], str]]:
    """Factory: each call creates an empty database; all of them are dropped after the test."""
    created: list[str] = []

    def create() -> str:
        name = postgres_server.create_database(f"test_{secrets.token_hex(6)}")
        created.append(name)
        return name

    yield create
    for name in created:
        postgres_server.drop_database(name)


@pytest.fixture(scope="session")
def app_role_password_file(scratch_directory: Callable[[str], Path]) -> Path:
    """The application role is cluster-wide, so one password serves every test database."""
    return write_secret(scratch_directory("secrets") / "app-db-password", generate_password())


@pytest.fixture
def application_database(
    postgres_server: PostgresServer, fresh_database: Callable[[], str], app_role_password_file: Path
) -> Callable[[], ApplicationDatabase]:
    """Factory: a new database with init.sql loaded and the application role granted on it."""

    def create() -> ApplicationDatabase:
        return ApplicationDatabase.bootstrap(
            postgres_server, fresh_database(), app_role_password_file
        )

    return create
