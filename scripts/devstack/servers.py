"""Throwaway real servers on free loopback ports: PostgreSQL, Redis, nginx and gunicorn.

Each launcher is a small dataclass: build it with a private directory, ``start()`` it, read its
connection details, ``stop()`` it. The test fixtures (tests/conftest.py) and the local stack
(``python -m scripts.devstack``) both use these, so a server is started one way everywhere.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import psycopg2.extensions
import redis

from scripts.devstack.processes import (
    find_binary,
    free_port,
    log_tail,
    port_open,
    run_checked,
    spawn,
    stop_group,
    wait_until_ready,
    write_secret,
)

LOOPBACK = "127.0.0.1"
POSTGRES_BIN_DIRS = ("/usr/lib/postgresql/15/bin",)
REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
SERVICES_DIR = REPOSITORY_ROOT / "services"


def generate_password() -> str:
    """A URL-safe random password (never logged, never on a command line)."""
    return secrets.token_urlsafe(32)


@dataclass
class ServerProcess:
    """A started server: its process (leader of its own process group) and log file."""

    popen: subprocess.Popen[bytes]
    log_path: Path
    stop_signal: signal.Signals
    stop_timeout: float = 15.0

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> None:
        stop_group(self.popen.pid, self.stop_signal, self.stop_timeout, self.popen)
        self.popen.poll()


def _require_stopped(process: ServerProcess | None, what: str) -> None:
    if process is not None and process.running():
        raise RuntimeError(f"{what} is already running")


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
        _require_stopped(self.process, "PostgreSQL")
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
        connection = self.connect()
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{_identifier(name)}"')
        finally:
            connection.close()
        return name

    def drop_database(self, name: str) -> None:
        connection = self.connect()
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{_identifier(name)}" WITH (FORCE)')
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


@dataclass
class RedisServer:
    """Redis with ``requirepass``; no persistence unless ``persistence=True`` (append-only file)."""

    base_dir: Path
    host: str = LOOPBACK
    port: int = field(default_factory=free_port)
    password: str = field(default_factory=generate_password, repr=False)
    persistence: bool = False
    process: ServerProcess | None = field(default=None, repr=False)

    @property
    def log_path(self) -> Path:
        return self.base_dir / "redis.log"

    def start(self, timeout: float = 30.0) -> RedisServer:
        _require_stopped(self.process, "Redis")
        redis_server = find_binary("redis-server", hint="apt-get install redis-server")
        self.base_dir.mkdir(parents=True, exist_ok=True)
        # The password lives in a 0600 config file, not on the command line where `ps` shows it.
        config = write_secret(self.base_dir / "redis.conf", self._config_text())
        popen = spawn([redis_server, str(config)], self.log_path, cwd=self.base_dir)
        self.process = ServerProcess(popen, self.log_path, signal.SIGTERM)
        wait_until_ready(self._answers_ping, popen, self.log_path, "Redis", timeout)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis(
            host=self.host,
            port=self.port,
            password=self.password,
            db=db,
            socket_timeout=2,
            socket_connect_timeout=2,
        )

    def _config_text(self) -> str:
        lines = [
            f"bind {self.host}",
            f"port {self.port}",
            f"requirepass {self.password}",
            f"dir {self.base_dir}",
            "daemonize no",
            "protected-mode yes",
            'logfile ""',
            'save ""',
            f"appendonly {'yes' if self.persistence else 'no'}",
        ]
        return "\n".join(lines) + "\n"

    def _answers_ping(self) -> bool:
        client = self.client()
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()


@dataclass
class NginxServer:
    """nginx with its own prefix, config, pid file and error log, in the foreground."""

    prefix: Path
    config_path: Path
    ready_port: int
    host: str = LOOPBACK
    process: ServerProcess | None = field(default=None, repr=False)

    @property
    def error_log(self) -> Path:
        return self.prefix / "error.log"

    @property
    def log_path(self) -> Path:
        return self.prefix / "nginx.out"

    def start(self, timeout: float = 20.0) -> NginxServer:
        _require_stopped(self.process, "nginx")
        nginx = find_binary("nginx", ("/usr/sbin",), "apt-get install nginx libnginx-mod-http-js")
        self.prefix.mkdir(parents=True, exist_ok=True)
        base = [
            nginx,
            "-p",
            str(self.prefix),
            "-c",
            str(self.config_path),
            "-e",
            str(self.error_log),
        ]
        # `nginx -t` first: a config error then reads as one clear message instead of a timeout.
        run_checked([*base, "-t", "-q"], None, "nginx -t")
        popen = spawn([*base, "-g", "daemon off;"], self.log_path, cwd=self.prefix)
        self.process = ServerProcess(popen, self.log_path, signal.SIGTERM)
        probe = lambda: port_open(self.host, self.ready_port)  # noqa: E731
        wait_until_ready(probe, popen, self.error_log, "nginx", timeout)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


@dataclass
class GunicornServer:
    """One service (``<package>:create_app()``) under gunicorn with servicekit's gunicorn config."""

    package: str
    service_dir: Path
    base_dir: Path
    environment: Mapping[str, str] = field(default_factory=dict, repr=False)
    host: str = LOOPBACK
    port: int = field(default_factory=free_port)
    process: ServerProcess | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def log_path(self) -> Path:
        return self.base_dir / f"{self.package}.log"

    def start(self, timeout: float = 30.0) -> GunicornServer:
        _require_stopped(self.process, self.package)
        self.base_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            sys.executable,
            *("-m", "gunicorn", "--config", "python:servicekit.gunicorn_config"),
            # Command-line settings win over the config file: loopback here, 0.0.0.0 in containers.
            *("--bind", self.address),
            f"{self.package}:create_app()",
        ]
        popen = spawn(argv, self.log_path, self._process_environment(), self.service_dir)
        self.process = ServerProcess(popen, self.log_path, signal.SIGTERM, stop_timeout=30.0)
        wait_until_ready(self._live, popen, self.log_path, self.package, timeout)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def _process_environment(self) -> dict[str, str]:
        python_path = os.pathsep.join([str(SERVICES_DIR), str(self.service_dir)])
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "PYTHONPATH": python_path,
            "PYTHONUNBUFFERED": "1",
            "PORT": str(self.port),
            **self.environment,
        }

    def _live(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health/live", timeout=1) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False


def _identifier(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"unsafe database name: {name!r}")
    return name
