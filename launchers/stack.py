"""The whole local stack as plain processes: PostgreSQL, Redis, three services, the gateway.

``LocalStack.up()`` starts everything in dependency order and records each process in
``state.json`` as soon as it runs, so ``stop_recorded()`` (``python -m scripts.devstack down``)
can stop it from another Python process, even after a failed ``up``.
"""

from __future__ import annotations

import json
import shutil
import signal
import ssl
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from servicekit.contract import SERVICES, Endpoint, ServiceEnvironment

from infra.gateway_config import JS_MODULE_PATH
from launchers.database import (
    DEFAULT_APP_USER,
    DEFAULT_DATABASE,
    bootstrap_application_database,
)
from launchers.gateway import Gateway
from launchers.gunicorn import GunicornServer
from launchers.paths import service_directory
from launchers.polling import PollTimeout, poll_until
from launchers.postgres import POSTGRES_BIN_DIRS, PostgresServer
from launchers.processes import (
    MissingBinaryError,
    ServerProcess,
    find_binary,
    generate_password,
    group_alive,
    stop_group,
    write_secret,
)
from launchers.redis import RedisServer
from launchers.tls import self_signed_certificate

PROJECT = "microstack"
STACK_NAME = "devstack"
STATE_FILE = "state.json"
OUTPUTS_FILE = "outputs.json"


class StackError(RuntimeError):
    """The stack could not be brought up (or is already up)."""


def check_prerequisites() -> None:
    """Raise MissingBinaryError for the first server binary this machine lacks, before any start."""
    find_binary("initdb", POSTGRES_BIN_DIRS, "apt-get install postgresql")
    find_binary("postgres", POSTGRES_BIN_DIRS, "apt-get install postgresql")
    find_binary("psql", POSTGRES_BIN_DIRS, "apt-get install postgresql-client")
    find_binary("redis-server", hint="apt-get install redis-server")
    find_binary("nginx", ("/usr/sbin",), "apt-get install nginx")
    if not Path(JS_MODULE_PATH).is_file():
        raise MissingBinaryError(JS_MODULE_PATH, "apt-get install libnginx-mod-http-js")


@dataclass
class LocalStack:
    run_dir: Path
    postgres: PostgresServer | None = field(default=None, repr=False)
    redis: RedisServer | None = field(default=None, repr=False)
    services: dict[str, GunicornServer] = field(default_factory=dict, repr=False)
    gateway: Gateway | None = field(default=None, repr=False)
    # The interpreter the services run under (launchers/gunicorn.py).
    python: str = sys.executable
    app_password: str = field(default_factory=generate_password, repr=False)
    _recorded: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @property
    def outputs_path(self) -> Path:
        return self.run_dir / OUTPUTS_FILE

    @property
    def secrets_dir(self) -> Path:
        return self.run_dir / "secrets"

    def up(self, health_timeout: float = 30.0) -> Path:
        """Start everything, wait for a healthy gateway, write the outputs document; its path."""
        check_prerequisites()
        if (self.run_dir / STATE_FILE).exists():
            raise StackError(f"a stack is already recorded in {self.run_dir}; run `down` first")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._start_data_tier()
            self._start_services()
            self._start_gateway()
            self._wait_until_healthy(health_timeout)
            write_secret(self.outputs_path, json.dumps(self.outputs(), indent=2) + "\n")
        except BaseException:
            self.down()
            raise
        return self.outputs_path

    def down(self) -> None:
        """Stop the servers this object holds (newest first), then anything else recorded."""
        for server in reversed(self._held().values()):
            if server is not None:
                server.stop()
        stop_recorded(self.run_dir)

    def restart(self, name: str) -> None:
        """Stop and start one part on the same port ("redis", "users", ...): tests that stop one."""
        server = self._held()[name]
        assert server is not None, f"{name} was never started"
        server.stop()
        self._start_and_record(name, server)

    def _held(self) -> dict[str, PostgresServer | RedisServer | GunicornServer | Gateway | None]:
        return {
            "postgres": self.postgres,
            "redis": self.redis,
            **self.services,
            "gateway": self.gateway,
        }

    def outputs(self) -> dict[str, Any]:
        """The stack outputs document (architecture.md), as ``pulumi stack output --json``."""
        assert self.postgres and self.redis and self.gateway
        gateway_url = self.gateway.url
        return {
            "project": PROJECT,
            "stack": STACK_NAME,
            "gateway_url": gateway_url,
            "gateway_http_url": self.gateway.http_url,
            "health_url": f"{gateway_url}/api/health",
            "service_urls": {name: f"{gateway_url}/api/v1/{name}" for name in SERVICES},
            "tls_ca_certificate": self.gateway.certificate.certificate_pem,
            "postgres": {
                "host": self.postgres.host,
                "port": self.postgres.port,
                "database": DEFAULT_DATABASE,
                "user": DEFAULT_APP_USER,
            },
            "postgres_password": self.app_password,
            "redis": {"host": self.redis.host, "port": self.redis.port},
            "redis_password": self.redis.password,
            "images": {},
            "networks": {},
            "volumes": {},
            # Processes, not containers: the document keeps its shape, like images and networks.
            "service_containers": {},
        }

    def _start_data_tier(self) -> None:
        self.postgres = PostgresServer(self.run_dir / "postgres")
        self._start_and_record("postgres", self.postgres)
        self.secrets_dir.mkdir(mode=0o700, exist_ok=True)
        password_file = write_secret(self.secrets_dir / "database-password", self.app_password)
        self.postgres.create_database(DEFAULT_DATABASE)
        bootstrap_application_database(self.postgres, password_file)
        self.redis = RedisServer(self.run_dir / "redis")
        self._start_and_record("redis", self.redis)
        write_secret(self.secrets_dir / "redis-password", self.redis.password)

    def _start_services(self) -> None:
        for name in SERVICES:
            self.services[name] = self._gunicorn(name)
            self._start_and_record(name, self.services[name])

    def start_replica(self, name: str) -> GunicornServer:
        """One more process of service `name` on a port of its own (the stack's gateway does not
        know it: a test puts both behind a gateway of its own). `down` stops it with the rest."""
        replica = self._gunicorn(name)
        self._start_and_record(f"{name}-replica", replica)
        return replica

    def _gunicorn(self, name: str) -> GunicornServer:
        service = SERVICES[name]
        return GunicornServer(
            service.package,
            service_directory(service),
            self.run_dir / "services",
            self._service_environment().variables(),
            self.python,
        )

    def _start_gateway(self) -> None:
        upstreams = {name: [server.address] for name, server in self.services.items()}
        certificate = self_signed_certificate()
        self.gateway = Gateway(self.run_dir / "gateway", upstreams, certificate)
        self._start_and_record("gateway", self.gateway)

    def _service_environment(self) -> ServiceEnvironment:
        assert self.postgres and self.redis
        return ServiceEnvironment(
            database=Endpoint(self.postgres.host, self.postgres.port),
            database_name=DEFAULT_DATABASE,
            database_user=DEFAULT_APP_USER,
            database_password_file=str(self.secrets_dir / "database-password"),
            redis=Endpoint(self.redis.host, self.redis.port),
            redis_password_file=str(self.secrets_dir / "redis-password"),
        )

    def _start_and_record(
        self, name: str, server: PostgresServer | RedisServer | GunicornServer | Gateway
    ) -> None:
        try:
            server.start()
        finally:
            process = _process_of(server)
            if process is not None:
                self._record(name, process)

    def _record(self, name: str, process: ServerProcess) -> None:
        self._recorded.append(
            {"name": name, "pid": process.pid, "stop_signal": process.stop_signal.name}
        )
        state = {"processes": self._recorded}
        (self.run_dir / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")

    def _wait_until_healthy(self, timeout: float) -> None:
        assert self.gateway is not None
        context = ssl.create_default_context(cadata=self.gateway.certificate.certificate_pem)
        url = f"{self.gateway.url}/api/health"
        try:
            poll_until(
                lambda: _health(url, context),
                lambda answer: answer[0] == 200,
                timeout=timeout,
                interval=0.2,
                # The run directory (and its logs) is removed on the way out: say what health said.
                message=lambda answer: (
                    f"/api/health still answered {answer[0]} after {timeout:.0f}s: {answer[1]}"
                ),
            )
        except PollTimeout as error:
            raise StackError(str(error)) from None


def _process_of(
    server: PostgresServer | RedisServer | GunicornServer | Gateway,
) -> ServerProcess | None:
    if isinstance(server, Gateway):
        return server.server.process if server.server else None
    return server.process


def _health(url: str, context: ssl.SSLContext) -> tuple[int | None, str]:
    """Status and body of the aggregated health document (no secrets in it)."""
    try:
        with urllib.request.urlopen(url, timeout=3, context=context) as response:
            return int(response.status), response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as error:
        return None, str(error)


def recorded_processes(run_dir: Path) -> list[dict[str, Any]]:
    try:
        state = json.loads((run_dir / STATE_FILE).read_text())
    except FileNotFoundError:
        return []
    return list(state.get("processes", []))


def stop_recorded(run_dir: Path) -> None:
    """Stop every recorded process group, newest first, then remove the run directory."""
    for entry in reversed(recorded_processes(run_dir)):
        stop_group(int(entry["pid"]), signal.Signals[entry["stop_signal"]], timeout=30.0)
    shutil.rmtree(run_dir, ignore_errors=True)


def recorded_status(run_dir: Path) -> dict[str, bool]:
    return {entry["name"]: group_alive(int(entry["pid"])) for entry in recorded_processes(run_dir)}
