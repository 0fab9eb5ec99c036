"""The contract between the platform and a service, written once.

A service reads its settings from environment variables (servicekit/settings.py); whatever starts it
(the Pulumi program in infra/, the local stack in launchers/, the test fixtures) builds that
environment with `service_environment` and finds the service's code through `SERVICES`. Standard
library only: it is imported inside the service images and outside them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# The port gunicorn binds inside a service container; the local stack overrides it per process.
SERVICE_PORT = 8000
# How the interpreter that serves a service runs: its image sets these (servicekit's Dockerfile,
# ENV) and the local stack passes them (launchers/gunicorn.py); tests/service/test_images.py keeps
# the two equal. PYTHONOPTIMIZE=2 leaves docstrings and asserts out of memory: about 3 MB less per
# process tree (no code of ours relies on either; the OpenAPI document does not change).
# MALLOC_ARENA_MAX=2: glibc would give each of a worker's threads an arena of its own, each keeping
# its freed memory apart (about 1 MB per tree). Figures: README, "Benchmark".
INTERPRETER_ENVIRONMENT = {"PYTHONUNBUFFERED": "1", "PYTHONOPTIMIZE": "2", "MALLOC_ARENA_MAX": "2"}


@dataclass(frozen=True)
class ServiceDefinition:
    """One service: its logical name (DNS alias, URL segment, output key) and where its code is."""

    name: str
    folder: str  # under services/: the image's build context
    package: str  # the Python package whose `create_app()` gunicorn serves


SERVICES: dict[str, ServiceDefinition] = {
    definition.name: definition
    for definition in (
        ServiceDefinition("users", "user-service", "user_service"),
        ServiceDefinition("products", "product-service", "product_service"),
        ServiceDefinition("orders", "order-service", "order_service"),
    )
}


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int


@dataclass(frozen=True)
class ServiceEnvironment:
    """The values a platform decides for its services; passwords travel as file paths only."""

    database: Endpoint
    database_name: str
    database_user: str
    database_password_file: str
    redis: Endpoint
    redis_password_file: str
    log_level: str = "INFO"
    # How many proxies (the gateway) sit in front of a service: werkzeug's ProxyFix trusts them.
    trusted_proxy_count: int = 1
    port: int | None = None
    cache_item_ttl_seconds: int | None = None
    cache_list_ttl_seconds: int | None = None
    gunicorn_workers: int | None = None
    gunicorn_threads: int | None = None
    cors_allowed_origins: Sequence[str] = ()

    def variables(self) -> dict[str, str]:
        """`NAME -> value` as servicekit.settings reads them; unset options keep its defaults."""
        if self.log_level not in LOG_LEVELS:
            raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}: {self.log_level}")
        variables = {
            "DATABASE_HOST": self.database.host,
            "DATABASE_PORT": str(self.database.port),
            "DATABASE_NAME": self.database_name,
            "DATABASE_USER": self.database_user,
            "DATABASE_PASSWORD_FILE": self.database_password_file,
            "REDIS_HOST": self.redis.host,
            "REDIS_PORT": str(self.redis.port),
            "REDIS_PASSWORD_FILE": self.redis_password_file,
            "LOG_LEVEL": self.log_level,
            "TRUSTED_PROXY_COUNT": str(self.trusted_proxy_count),
        }
        optional = {
            "PORT": self.port,
            "CACHE_ITEM_TTL_SECONDS": self.cache_item_ttl_seconds,
            "CACHE_LIST_TTL_SECONDS": self.cache_list_ttl_seconds,
            "GUNICORN_WORKERS": self.gunicorn_workers,
            "GUNICORN_THREADS": self.gunicorn_threads,
        }
        variables |= {name: str(value) for name, value in optional.items() if value is not None}
        if self.cors_allowed_origins:
            variables["CORS_ALLOWED_ORIGINS"] = ",".join(self.cors_allowed_origins)
        return variables
