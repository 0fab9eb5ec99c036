"""`Gateway`: the nginx TLS gateway, the only container that publishes ports, and only on the bind
address.

Its configuration is rendered from `nginx/gateway.conf.j2` by infra/gateway_config.py (as the local
stack renders it) and uploaded with the njs health handler and the TLS certificate and key, which
are self-signed here unless the user brings their own (infra/tls.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from infra import containers, swarm, workloads
from infra.config import Settings
from infra.gateway_config import (
    TEMPLATE,
    GatewayFiles,
    GatewayVariables,
    render_gateway_config,
)
from infra.moves import moved_under
from infra.naming import StackScope
from infra.network import Networks
from infra.service import PORT as SERVICE_PORT
from infra.sources import SourceTree
from infra.swarm import SwarmOptions
from infra.tls import declare_tls

HTTPS_PORT = 8443
HTTP_PORT = 8080
CONFIG_FILE = "/etc/nginx/gateway.conf"
JS_DIRECTORY = "/etc/nginx/njs"
CERTIFICATE_FILE = "/etc/nginx/tls/gateway.crt"
PRIVATE_KEY_FILE = "/etc/nginx/tls/gateway.key"
TEMP_DIRECTORY = "/tmp/nginx"
ENTRYPOINT_FILE = "/etc/nginx/gateway-entrypoint.sh"
# nginx/gateway-entrypoint.sh runs nginx and reloads it when a service's replicas change address;
# it also creates the temp paths' parent (nginx creates only their last level). Running through
# `sh` skips the image entrypoint's default-site templating (unused here).
COMMAND = ["sh", ENTRYPOINT_FILE]
# Liveness of nginx itself (not of the services behind it): the plain-HTTP server answers 301.
# bash's /dev/tcp needs no HTTP client in the image.
HEALTHCHECK = [
    "CMD",
    "bash",
    "-c",
    f"exec 3<>/dev/tcp/127.0.0.1/{HTTP_PORT} && printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3 "
    "&& head -c 12 <&3 | grep -q ' 301'",
]
CONTAINER_FILES = GatewayFiles(
    tls_certificate=CERTIFICATE_FILE,
    tls_certificate_key=PRIVATE_KEY_FILE,
    js_dir=JS_DIRECTORY,
    pid_path="/tmp/nginx.pid",
    temp_dir=TEMP_DIRECTORY,
    access_log="/dev/stdout",
    error_log="/dev/stderr",
)


@dataclass(frozen=True)
class GatewayArgs:
    settings: Settings
    scope: StackScope
    networks: Networks
    sources: SourceTree
    # Service name -> the resource that runs it: nginx resolves upstream names when it starts, so
    # the services must exist (and be healthy) first.
    services: Mapping[str, pulumi.Resource]


def template_variables(settings: Settings, services: Mapping[str, object]) -> GatewayVariables:
    """The container's values for the template contract in docs/architecture.md."""
    return GatewayVariables(
        listen_address="0.0.0.0",
        https_port=HTTPS_PORT,
        http_port=HTTP_PORT,
        public_https_port=settings.gateway_https_port,
        # The service's name: Docker's DNS answers it with every replica's address.
        upstreams={name: [f"{name}:{SERVICE_PORT}"] for name in services},
        files=CONTAINER_FILES,
        rate_limit_per_second=settings.gateway_rate_limit_per_second,
        rate_limit_burst=settings.gateway_rate_limit_burst,
    )


class Gateway(pulumi.ComponentResource):
    """nginx in front of the services: a container, or under the swarm target a one-replica Swarm
    service on a manager with host-mode ports, replaced stop-first (a node's host port holds one
    task). Its watcher follows the services' addresses either way: with `dnsrr` the names resolve
    to the tasks, with `vip` to a virtual IP that does not change."""

    certificate_pem: pulumi.Output[str]
    # What runs nginx: a docker.Container, or a docker.Service under the swarm target.
    workload: pulumi.CustomResource

    def __init__(
        self, name: str, args: GatewayArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("microstack:index:Gateway", name, None, opts)
        settings = args.settings
        tls = declare_tls(settings, self)
        self.certificate_pem = tls.certificate_pem
        image = containers.remote_image("nginx", settings.nginx_image, moved_under(self))
        config = render_gateway_config(
            args.sources.read_text(TEMPLATE), template_variables(settings, args.services)
        )
        address = settings.gateway_bind_address
        workload = workloads.WorkloadArgs(
            image=image.image_id,
            memory_mb=settings.gateway_memory_mb,
            healthcheck=workloads.healthcheck(HEALTHCHECK, start_period="10s"),
            networks=[workloads.attach(args.networks.frontend, "gateway")],
            command=COMMAND,
            envs=workloads.environment(
                {
                    "GATEWAY_CONFIG": CONFIG_FILE,
                    "UPSTREAM_HOSTS": " ".join(sorted(args.services)),
                }
            ),
            files=[
                workloads.public_file(CONFIG_FILE, config),
                workloads.public_file(
                    ENTRYPOINT_FILE,
                    args.sources.read_text("nginx/gateway-entrypoint.sh"),
                    executable=True,
                ),
                workloads.public_file(
                    f"{JS_DIRECTORY}/health.js", args.sources.read_text("nginx/health.js")
                ),
                workloads.public_file(CERTIFICATE_FILE, tls.certificate_pem),
                workloads.secret_file(PRIVATE_KEY_FILE, tls.private_key_pem),
            ],
            ports=[
                workloads.published_port(HTTPS_PORT, settings.gateway_https_port, address),
                workloads.published_port(HTTP_PORT, settings.gateway_http_port, address),
            ],
        )
        swarm_options = SwarmOptions.of(settings)
        if swarm_options is None:
            container = containers.declare_container(
                name,
                args.scope,
                workload,
                moved_under(self, depends_on=list(args.services.values())),
            )
            self.workload = container
            self.register_outputs({"container_name": container.name})
            return
        service = swarm.declare_service(
            name,
            args.scope,
            dataclasses.replace(workload, image=image.name),
            swarm_options,
            swarm.Deployment(
                replicas=1, order=swarm.STOP_FIRST, constraints=[swarm.GATEWAY_CONSTRAINT]
            ),
            pulumi.ResourceOptions(parent=self, depends_on=list(args.services.values())),
        )
        self.workload = service
        self.register_outputs({"service_name": service.name})
