"""nginx in the foreground with its own prefix, config, pid file and error log."""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from pathlib import Path

from launchers.processes import (
    LOOPBACK,
    ServerProcess,
    find_binary,
    port_open,
    require_stopped,
    run_checked,
    spawn,
    wait_until_ready,
)


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
        require_stopped(self.process, "nginx")
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
