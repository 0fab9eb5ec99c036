"""The nginx TLS gateway: the only container that publishes ports, and only on the bind address.

Its configuration is rendered from `nginx/gateway.conf.j2` (the same template the devstack renders)
and uploaded with the njs health handler and the TLS certificate and key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jinja2
import pulumi
import pulumi_docker as docker

from infra import containers
from infra.components.service import PORT as SERVICE_PORT
from infra.config import Settings
from infra.naming import StackScope
from infra.network import Networks
from infra.sources import SourceTree
from infra.tls import TlsMaterial

HTTPS_PORT = 8443
HTTP_PORT = 8080
CONFIG_FILE = "/etc/nginx/gateway.conf"
JS_DIRECTORY = "/etc/nginx/njs"
CERTIFICATE_FILE = "/etc/nginx/tls/gateway.crt"
PRIVATE_KEY_FILE = "/etc/nginx/tls/gateway.key"
TEMP_DIRECTORY = "/tmp/nginx"
# nginx creates only the last level of its temp paths, so their parent must exist before it starts.
# Running through `sh` also skips the image entrypoint's default-site templating (unused here).
COMMAND = [
    "sh",
    "-c",
    f"mkdir -p {TEMP_DIRECTORY} && exec nginx -c {CONFIG_FILE} -g 'daemon off;'",
]
# Liveness of nginx itself (not of the services behind it): the plain-HTTP server answers 301.
# bash's /dev/tcp needs no HTTP client in the image.
HEALTHCHECK = [
    "CMD",
    "bash",
    "-c",
    f"exec 3<>/dev/tcp/127.0.0.1/{HTTP_PORT} && printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3 "
    "&& head -c 12 <&3 | grep -q ' 301'",
]


def template_variables(settings: Settings, services: Sequence[str]) -> dict[str, object]:
    """The container's values for the template contract in docs/architecture.md."""
    return {
        "listen_address": "0.0.0.0",
        "https_port": HTTPS_PORT,
        "http_port": HTTP_PORT,
        "public_https_port": settings.gateway_https_port,
        "upstreams": {name: f"{name}:{SERVICE_PORT}" for name in sorted(services)},
        "tls_certificate": CERTIFICATE_FILE,
        "tls_certificate_key": PRIVATE_KEY_FILE,
        "js_module_path": "/usr/lib/nginx/modules/ngx_http_js_module.so",
        "js_dir": JS_DIRECTORY,
        "pid_path": "/tmp/nginx.pid",
        "temp_dir": TEMP_DIRECTORY,
        "access_log": "/dev/stdout",
        "error_log": "/dev/stderr",
        "rate_limit_per_second": settings.gateway_rate_limit_per_second,
        "rate_limit_burst": settings.gateway_rate_limit_burst,
        "client_max_body_size": "1m",
    }


def render_config(sources: SourceTree, variables: Mapping[str, object]) -> str:
    environment = jinja2.Environment(
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False
    )
    return environment.from_string(sources.read_text("nginx/gateway.conf.j2")).render(**variables)


def declare_gateway(
    settings: Settings,
    scope: StackScope,
    networks: Networks,
    tls: TlsMaterial,
    sources: SourceTree,
    services: Mapping[str, pulumi.Resource],
) -> docker.Container:
    image = containers.remote_image("nginx", settings.nginx_image)
    config = render_config(sources, template_variables(settings, list(services)))
    address = settings.gateway_bind_address
    return containers.declare_container(
        "gateway",
        scope,
        memory_mb=settings.gateway_memory_mb,
        image=image.image_id,
        command=COMMAND,
        uploads=[
            containers.public_file(CONFIG_FILE, config),
            containers.public_file(
                f"{JS_DIRECTORY}/health.js", sources.read_text("nginx/health.js")
            ),
            containers.public_file(CERTIFICATE_FILE, tls.certificate_pem),
            containers.secret_file(PRIVATE_KEY_FILE, tls.private_key_pem),
        ],
        networks_advanced=[containers.attach(networks.frontend, "gateway")],
        ports=[
            containers.published_port(HTTPS_PORT, settings.gateway_https_port, address),
            containers.published_port(HTTP_PORT, settings.gateway_http_port, address),
        ],
        healthcheck=containers.healthcheck(HEALTHCHECK, start_period="10s"),
        # nginx resolves upstream names at start: the services must exist (and be healthy) first.
        opts=pulumi.ResourceOptions(depends_on=list(services.values())),
    )
