"""A throwaway PostgreSQL 15 in a directory of its own, on a free loopback port."""

from __future__ import annotations

import os
import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import psycopg2.extensions

from launchers.processes import (
    LOOPBACK,
    ServerProcess,
    find_binary,
    free_port,
    generate_password,
    log_tail,
    require_stopped,
    run_checked,
    spawn,
    wait_until_ready,
    write_secret,
)

POSTGRES_BIN_DIRS = ("/usr/lib/postgresql/15/bin",)


def _server_user() -> str | None:
    """PostgreSQL refuses to run as root: as root, run it as the ``postgres`` system user."""
    return "postgres" if os.geteuid() == 0 else None


@dataclass
class PostgresServer:
    """PostgreSQL 15 with scram-sha-256 password auth for every connection (no trust)."""

    base_dir: Path
    host: str = LOOPBACK
    port: int = field(default_factory=free_port)
    superuser: str = "postgres"
    password: str = field(default_factory=generate_password, repr=False)
    process: ServerProcess | None = field(default=None, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "postgres.log"

    def start(self, timeout: float = 60.0) -> PostgresServer:
        require_stopped(self.process, "PostgreSQL")
        postgres = find_binary("postgres", POSTGRES_BIN_DIRS, "apt-get install postgresql")
        self._prepare_directory()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        argv = [
            postgres,
            *("-D", str(self.data_dir), "-p", str(self.port)),
            *("-c", f"listen_addresses={self.host}"),
            *("-c", f"unix_socket_directories={self.base_dir}"),
            # Throwaway data: durability buys nothing and costs seconds per test session.
            *("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"),
            *("-c", "max_connections=200"),
        ]
        popen = spawn(argv, self.log_path, self._environment(), self.base_dir, _server_user())
        # SIGINT is PostgreSQL's "fast" shutdown: roll back open work, do not wait for clients.
        self.process = ServerProcess(popen, self.log_path, signal.SIGINT)
        wait_until_ready(self._accepts_login, popen, self.log_path, "PostgreSQL", timeout)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def connect(self, database: str = "postgres") -> psycopg2.extensions.connection:
        return psycopg2.connect(
            host=self.host,
            port=self.port,
            user=self.superuser,
            password=self.password,
            dbname=database,
            connect_timeout=2,
        )

    def create_database(self, name: str) -> str:
        self._execute_outside_transaction(f'CREATE DATABASE "{_identifier(name)}"')
        return name

    def drop_database(self, name: str) -> None:
        self._execute_outside_transaction(
            f'DROP DATABASE IF EXISTS "{_identifier(name)}" WITH (FORCE)'
        )

    def _execute_outside_transaction(self, statement: str) -> None:
        """CREATE and DROP DATABASE refuse to run inside a transaction block: autocommit."""
        connection = self.connect()
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(statement)
        finally:
            connection.close()

    def client_environment(self, database: str = "postgres") -> dict[str, str]:
        """libpq variables for ``psql`` and scripts run as the superuser (holds the password)."""
        return {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.superuser,
            "PGPASSWORD": self.password,
            "PGDATABASE": database,
            "PGCONNECT_TIMEOUT": "5",
        }

    def run_sql_file(self, sql_file: Path, database: str) -> None:
        """Run a SQL file with psql as the superuser, stopping at the first error."""
        psql = find_binary("psql", POSTGRES_BIN_DIRS, "apt-get install postgresql-client")
        argv = [psql, "-v", "ON_ERROR_STOP=1", "--no-psqlrc", "--quiet", "-f", str(sql_file)]
        env = {**os.environ, **self.client_environment(database)}
        run_checked(argv, env, f"psql -f {sql_file.name}")

    def _prepare_directory(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        user = _server_user()
        if user is not None:
            shutil.chown(self.base_dir, user, user)
        self.base_dir.chmod(0o700)

    def _initdb(self) -> None:
        initdb = find_binary("initdb", POSTGRES_BIN_DIRS, "apt-get install postgresql")
        password_file = write_secret(
            self.base_dir / "initdb-password", self.password, _server_user()
        )
        argv = [
            initdb,
            *("-D", str(self.data_dir), "--username", self.superuser),
            *("--pwfile", str(password_file), "--auth=scram-sha-256"),
            *("--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"),
        ]
        log = self.base_dir / "initdb.log"
        try:
            popen = spawn(argv, log, self._environment(), self.base_dir, _server_user())
            if popen.wait(timeout=120) != 0:
                raise RuntimeError(f"initdb failed:\n{log_tail(log)}")
        finally:
            password_file.unlink(missing_ok=True)

    def _environment(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}

    def _accepts_login(self) -> bool:
        try:
            self.connect().close()
        except psycopg2.OperationalError:
            return False
        return True


def _identifier(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"unsafe database name: {name!r}")
    return name
