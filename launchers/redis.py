"""A throwaway Redis on a free loopback port, its password in a 0600 config file."""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from pathlib import Path

import redis

from launchers.processes import (
    LOOPBACK,
    ServerProcess,
    find_binary,
    free_port,
    generate_password,
    require_stopped,
    spawn,
    wait_until_ready,
    write_secret,
)


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
        require_stopped(self.process, "Redis")
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
