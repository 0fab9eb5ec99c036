"""Render nginx/gateway.conf.j2 and run it as a throwaway gateway in a directory of its own."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from scripts.devstack.processes import free_port, write_secret
from scripts.devstack.servers import LOOPBACK, REPOSITORY_ROOT, NginxServer
from scripts.devstack.tls import Certificate

NGINX_DIR = REPOSITORY_ROOT / "nginx"
TEMPLATE_NAME = "gateway.conf.j2"
JS_MODULE_PATH = "/usr/lib/nginx/modules/ngx_http_js_module.so"


def render_gateway_config(variables: Mapping[str, Any]) -> str:
    """The gateway config for ``variables`` (architecture.md); a missing one raises at once."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(NGINX_DIR),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    return environment.get_template(TEMPLATE_NAME).render(**variables)


@dataclass
class Gateway:
    """The gateway on free loopback ports, its config, certificate and logs under ``base_dir``."""

    base_dir: Path
    upstreams: Mapping[str, str]
    certificate: Certificate = field(repr=False)
    https_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    rate_limit_per_second: int = 50
    rate_limit_burst: int = 100
    client_max_body_size: str = "1m"
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
    def access_log(self) -> Path:
        return self.base_dir / "access.log"

    def template_variables(self) -> dict[str, Any]:
        return {
            "listen_address": LOOPBACK,
            "https_port": self.https_port,
            "http_port": self.http_port,
            "public_https_port": self.https_port,
            "upstreams": dict(self.upstreams),
            "tls_certificate": str(self.certificate_path),
            "tls_certificate_key": str(self.base_dir / "tls" / "gateway.key"),
            "js_module_path": JS_MODULE_PATH,
            "js_dir": str(NGINX_DIR),
            "pid_path": str(self.base_dir / "nginx.pid"),
            "temp_dir": str(self.base_dir / "temp"),
            "access_log": str(self.access_log),
            "error_log": str(self.base_dir / "error.log"),
            "rate_limit_per_second": self.rate_limit_per_second,
            "rate_limit_burst": self.rate_limit_burst,
            "client_max_body_size": self.client_max_body_size,
        }

    def start(self) -> Gateway:
        variables = self.template_variables()
        (self.base_dir / "temp").mkdir(parents=True, exist_ok=True)
        self.certificate_path.parent.mkdir(parents=True, exist_ok=True)
        self.certificate_path.write_text(self.certificate.certificate_pem)
        write_secret(Path(variables["tls_certificate_key"]), self.certificate.private_key_pem)
        config_path = self.base_dir / "gateway.conf"
        config_path.write_text(render_gateway_config(variables))
        # Assigned before start() so a caller can stop an nginx that started but never got ready.
        self.server = NginxServer(self.base_dir, config_path, self.https_port)
        self.server.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
