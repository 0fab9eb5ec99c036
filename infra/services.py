"""The three Flask services: one `Service` component each, differing only in their folder, all
built on the one servicekit base image."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_docker as docker

from infra import postgres, redis
from infra.components.service import PORT, Service, ServiceArgs
from infra.config import Settings
from infra.credentials import Secrets
from infra.naming import StackScope
from infra.network import Networks
from infra.sources import SourceTree

DATABASE_PASSWORD_FILE = "/run/secrets/database-password"
REDIS_PASSWORD_FILE = "/run/secrets/redis-password"

# Logical name (DNS alias, URL segment, output key) -> folder under services/.
SERVICE_FOLDERS = {
    "users": "user-service",
    "products": "product-service",
    "orders": "order-service",
}


def declare_services(
    settings: Settings,
    scope: StackScope,
    networks: Networks,
    secrets: Secrets,
    sources: SourceTree,
    base_image: docker.Image,
    depends_on: Sequence[pulumi.Resource],
) -> dict[str, Service]:
    def service(name: str) -> Service:
        folder = SERVICE_FOLDERS[name]
        return Service(
            name,
            ServiceArgs(
                context=sources.services / folder,
                # Only the service's folder: servicekit's changes arrive through the base image.
                source_digest=sources.source_digest(folder),
                base_image=base_image,
                environment=service_environment(settings),
                secret_files={
                    DATABASE_PASSWORD_FILE: secrets.postgres_app_password,
                    REDIS_PASSWORD_FILE: secrets.redis_password,
                },
                networks=[networks.frontend, networks.backend],
                memory_mb=settings.service_memory_mb,
                scope=scope,
                depends_on=depends_on,
            ),
        )

    return {name: service(name) for name in SERVICE_FOLDERS}


def service_environment(settings: Settings) -> dict[str, str]:
    """The servicekit settings contract (docs/architecture.md); passwords arrive as *_FILE paths."""
    variables = {
        "DATABASE_HOST": postgres.HOSTNAME,
        "DATABASE_PORT": str(postgres.PORT),
        "DATABASE_NAME": postgres.DATABASE,
        "DATABASE_USER": postgres.APP_USER,
        "DATABASE_PASSWORD_FILE": DATABASE_PASSWORD_FILE,
        "REDIS_HOST": redis.HOSTNAME,
        "REDIS_PORT": str(redis.PORT),
        "REDIS_PASSWORD_FILE": REDIS_PASSWORD_FILE,
        "CACHE_ITEM_TTL_SECONDS": str(settings.cache_item_ttl_seconds),
        "CACHE_LIST_TTL_SECONDS": str(settings.cache_list_ttl_seconds),
        "LOG_LEVEL": settings.log_level,
        "TRUSTED_PROXY_COUNT": "1",
        "PORT": str(PORT),
        "GUNICORN_WORKERS": str(settings.gunicorn_workers),
        "GUNICORN_THREADS": str(settings.gunicorn_threads),
    }
    if settings.cors_allowed_origins:
        variables["CORS_ALLOWED_ORIGINS"] = ",".join(settings.cors_allowed_origins)
    return variables
