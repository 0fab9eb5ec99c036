"""The gateway on free loopback ports: nginx/gateway.conf.j2 rendered and run in a directory of its
own.

The variables and the rendering are infra.gateway_config's, the same the gateway container gets;
only the addresses and paths differ.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from infra.gateway_config import (
    RATE_LIMIT_BURST,
    RATE_LIMIT_PER_SECOND,
    GatewayFiles,
    GatewayVariables,
    render_gateway_config,
)
from infra.gateway_config import TEMPLATE as TEMPLATE_PATH
from launchers.nginx import NginxServer
from launchers.paths import REPOSITORY_ROOT
from launchers.processes import LOOPBACK, free_port, write_secret
from launchers.tls import Certificate

TEMPLATE = REPOSITORY_ROOT / TEMPLATE_PATH


@dataclass
class Gateway:
    """The gateway on free loopback ports, its config, certificate and logs under ``base_dir``."""

    base_dir: Path
    upstreams: Mapping[str, Sequence[str]]  # service name -> its servers (host:port)
    certificate: Certificate = field(repr=False)
    https_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    rate_limit_per_second: int = RATE_LIMIT_PER_SECOND
    rate_limit_burst: int = RATE_LIMIT_BURST
    # Paths nginx answers itself (the benchmark's edge ceiling).
    static_bodies: Mapping[str, str] = field(default_factory=dict)
    server: NginxServer | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"https://{LOOPBACK}:{self.https_port}"

    @property
    def http_url(self) -> str:
        return f"http://{LOOPBACK}:{self.http_port}"

    @property
    def certificate_path(self) -> Path:
        return self.base_dir / "tls" / "gateway.crt"

    @property
    def certificate_key_path(self) -> Path:
        return self.base_dir / "tls" / "gateway.key"

    @property
    def access_log(self) -> Path:
        return self.base_dir / "access.log"

    def variables(self) -> GatewayVariables:
        files = GatewayFiles(
            tls_certificate=str(self.certificate_path),
            tls_certificate_key=str(self.certificate_key_path),
            # health.js sits beside the template.
            js_dir=str(TEMPLATE.parent),
            pid_path=str(self.base_dir / "nginx.pid"),
            temp_dir=str(self.base_dir / "temp"),
            access_log=str(self.access_log),
            error_log=str(self.base_dir / "error.log"),
        )
        return GatewayVariables(
            listen_address=LOOPBACK,
            https_port=self.https_port,
            http_port=self.http_port,
            public_https_port=self.https_port,
            upstreams=self.upstreams,
            files=files,
            rate_limit_per_second=self.rate_limit_per_second,
            rate_limit_burst=self.rate_limit_burst,
            static_bodies=self.static_bodies,
        )

    def start(self) -> Gateway:
        variables = self.variables()
        Path(variables.files.temp_dir).mkdir(parents=True, exist_ok=True)
        self.certificate_path.parent.mkdir(parents=True, exist_ok=True)
        self.certificate_path.write_text(self.certificate.certificate_pem)
        write_secret(self.certificate_key_path, self.certificate.private_key_pem)
        config_path = self.base_dir / "gateway.conf"
        config_path.write_text(render_gateway_config(TEMPLATE.read_text(), variables))
        # Assigned before start() so a caller can stop an nginx that started but never got ready.
        self.server = NginxServer(self.base_dir, config_path, self.https_port)
        self.server.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
