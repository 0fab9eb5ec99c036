"""One service (``<package>:create_app()``) under gunicorn on a free loopback port."""

from __future__ import annotations

import os
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from servicekit.contract import INTERPRETER_ENVIRONMENT

from launchers.paths import SERVICES_DIR
from launchers.processes import (
    LOOPBACK,
    ServerProcess,
    free_port,
    require_stopped,
    spawn,
    wait_until_ready,
)


@dataclass
class GunicornServer:
    """One service (``<package>:create_app()``) under gunicorn with servicekit's gunicorn config."""

    package: str
    service_dir: Path
    base_dir: Path
    environment: Mapping[str, str] = field(default_factory=dict, repr=False)
    # The interpreter gunicorn runs under (the benchmark's may hold the image's packages only).
    python: str = sys.executable
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
        # The port too: replicas of one service run side by side.
        return self.base_dir / f"{self.package}-{self.port}.log"

    def start(self, timeout: float = 30.0) -> GunicornServer:
        require_stopped(self.process, self.package)
        self.base_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            self.python,
            *("-m", "gunicorn", "--config", "python:servicekit.gunicorn_config"),
            # Command-line settings win over the config file: loopback here, 0.0.0.0 in containers.
            *("--bind", self.address),
            f"{self.package}:create_app()",
        ]
        popen = spawn(argv, self.log_path, self.process_environment(), self.service_dir)
        self.process = ServerProcess(popen, self.log_path, signal.SIGTERM, stop_timeout=30.0)
        wait_until_ready(self._live, popen, self.log_path, self.package, timeout)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def process_environment(self) -> dict[str, str]:
        python_path = os.pathsep.join([str(SERVICES_DIR), str(self.service_dir)])
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "PYTHONPATH": python_path,
            **INTERPRETER_ENVIRONMENT,
            "PORT": str(self.port),
            **self.environment,
        }

    def _live(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health/live", timeout=1) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False
