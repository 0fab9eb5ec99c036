"""The gateway's nginx configuration: the template's variables built in one place, rendered by one
Jinja environment.

The gateway container (infra/gateway.py) and the local stack (launchers/gateway.py) differ only in
the addresses and paths they pass; the limits are the same everywhere. No Pulumi import: the local
stack and the tests use this module without the Pulumi runtime.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import jinja2

TEMPLATE = "nginx/gateway.conf.j2"  # relative to the repository root
# Where Debian's libnginx-mod-http-js and the official nginx image both install the njs module.
JS_MODULE_PATH = "/usr/lib/nginx/modules/ngx_http_js_module.so"
RATE_LIMIT_PER_SECOND = 50
RATE_LIMIT_BURST = 100
# The services refuse bodies over 1 MiB too (servicekit); the gateway says so first.
CLIENT_MAX_BODY_SIZE = "1m"

# StrictUndefined: a variable missing from GatewayVariables fails the render, never renders "".
_ENVIRONMENT = jinja2.Environment(
    undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False
)


@dataclass(frozen=True)
class GatewayFiles:
    """Where this gateway's nginx finds and writes its files."""

    tls_certificate: str
    tls_certificate_key: str
    js_dir: str
    pid_path: str
    temp_dir: str
    access_log: str
    error_log: str


@dataclass(frozen=True)
class GatewayVariables:
    """The template contract of docs/architecture.md ("Gateway template variables")."""

    listen_address: str
    https_port: int
    http_port: int
    # The port clients dial: the HTTP → HTTPS redirect names it (a container publishes 8443 as it).
    public_https_port: int
    # Service name -> its servers (host:port). A host name that Docker's DNS answers with several
    # addresses (every replica's) gives nginx one peer per address.
    upstreams: Mapping[str, Sequence[str]]
    files: GatewayFiles
    rate_limit_per_second: int = RATE_LIMIT_PER_SECOND
    rate_limit_burst: int = RATE_LIMIT_BURST
    client_max_body_size: str = CLIENT_MAX_BODY_SIZE
    js_module_path: str = JS_MODULE_PATH
    # Paths nginx answers itself with a fixed JSON body: only the benchmark's edge ceiling uses it.
    static_bodies: Mapping[str, str] = field(default_factory=dict)

    def template_variables(self) -> dict[str, object]:
        return {
            "listen_address": self.listen_address,
            "https_port": self.https_port,
            "http_port": self.http_port,
            "public_https_port": self.public_https_port,
            "upstreams": {name: list(self.upstreams[name]) for name in sorted(self.upstreams)},
            "tls_certificate": self.files.tls_certificate,
            "tls_certificate_key": self.files.tls_certificate_key,
            "js_module_path": self.js_module_path,
            "js_dir": self.files.js_dir,
            "pid_path": self.files.pid_path,
            "temp_dir": self.files.temp_dir,
            "access_log": self.files.access_log,
            "error_log": self.files.error_log,
            "rate_limit_per_second": self.rate_limit_per_second,
            "rate_limit_burst": self.rate_limit_burst,
            "client_max_body_size": self.client_max_body_size,
            "static_bodies": dict(self.static_bodies),
        }


def render_gateway_config(template: str, variables: GatewayVariables) -> str:
    """The nginx configuration: `template` is the text of nginx/gateway.conf.j2."""
    return render_template(template, variables.template_variables())


def render_template(template: str, values: Mapping[str, object]) -> str:
    """Render raw template values; a missing one raises jinja2.UndefinedError naming it."""
    return _ENVIRONMENT.from_string(template).render(**values)
