"""The stack outputs document (docs/architecture.md): the only thing the e2e tests read."""

from __future__ import annotations

import pulumi

from infra import postgres, redis
from infra.config import Settings
from infra.credentials import Credentials
from infra.data_store import DataStore
from infra.gateway import Gateway
from infra.images import SERVICEKIT
from infra.naming import StackScope
from infra.network import Networks
from infra.services import Services


def url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def stack_outputs(
    settings: Settings,
    scope: StackScope,
    *,
    networks: Networks,
    database: DataStore,
    cache: DataStore,
    services: Services,
    credentials: Credentials,
    gateway: Gateway,
) -> dict[str, pulumi.Output[object]]:
    """One Output per top-level key, so that only the two password keys are secret."""
    host = url_host(settings.client_host)
    gateway_url = f"https://{host}:{settings.gateway_https_port}"
    # Every image the stack builds: the services' and the base they share.
    images = {SERVICEKIT: services.base_image} | {
        name: service.image for name, service in services.services.items()
    }
    document: dict[str, pulumi.Input[object]] = {
        "project": scope.project,
        "stack": scope.stack,
        "gateway_url": gateway_url,
        "gateway_http_url": f"http://{host}:{settings.gateway_http_port}",
        "health_url": f"{gateway_url}/api/health",
        "service_urls": {
            name: f"{gateway_url}/api/v1/{name}" for name in sorted(services.services)
        },
        "tls_ca_certificate": gateway.certificate_pem,
        "postgres": postgres.connection_details(settings),
        "postgres_password": credentials.postgres_app_password,
        "redis": redis.connection_details(settings),
        "redis_password": credentials.redis_password,
        "images": {
            name: {"name": images[name].image_name, "id": images[name].repo_digest}
            for name in sorted(images)
        },
        "service_containers": {
            name: services.services[name].replica_names for name in sorted(services.services)
        },
        "networks": {"frontend": networks.frontend.name, "backend": networks.backend.name},
        "volumes": {"postgres": database.volume.name, "redis": cache.volume.name},
    }
    return {key: pulumi.Output.from_input(value) for key, value in document.items()}
