"""The stack's configuration, read once from `pulumi.Config("microstack")` into a frozen object.

Every other module receives a `Settings`; none calls `pulumi.Config()` itself. Keys, defaults and
allowed values are listed in Pulumi.dev.yaml and docs/architecture.md.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

import pulumi

from infra.validation import (
    NAMESPACE,
    ConfigError,
    parse_bool,
    parse_choice,
    parse_image_reference,
    parse_int,
    parse_ip_address,
    parse_origins,
    parse_port,
    parse_positive_int,
    require_distinct_ports,
)

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# Official images on Debian bookworm, pinned. The nginx image ships the njs module we need.
DEFAULTS: dict[str, str] = {
    "gatewayBindAddress": "127.0.0.1",
    "gatewayHttpsPort": "8443",
    "gatewayHttpPort": "8080",
    "postgresImage": "postgres:16.4-bookworm",
    "redisImage": "redis:7.4.1-bookworm",
    "nginxImage": "nginx:1.27.2-bookworm",
    "pythonImage": "python:3.11.11-slim-bookworm",
    "cacheItemTtlSeconds": "300",
    "cacheListTtlSeconds": "60",
    "gunicornWorkers": "2",
    "gunicornThreads": "4",
    "logLevel": "INFO",
    "publishPostgres": "false",
    "postgresHostPort": "5432",
    "publishRedis": "false",
    "redisHostPort": "6379",
    "corsAllowedOrigins": "",
    "serviceMemoryMb": "256",
    "postgresMemoryMb": "512",
    "redisMemoryMb": "128",
    "gatewayMemoryMb": "128",
}


@dataclass(frozen=True)
class Settings:
    gateway_bind_address: str
    gateway_https_port: int
    gateway_http_port: int
    postgres_image: str
    redis_image: str
    nginx_image: str
    python_image: str
    cache_item_ttl_seconds: int
    cache_list_ttl_seconds: int
    gunicorn_workers: int
    gunicorn_threads: int
    log_level: str
    publish_postgres: bool
    postgres_host_port: int
    publish_redis: bool
    redis_host_port: int
    cors_allowed_origins: tuple[str, ...]
    service_memory_mb: int
    postgres_memory_mb: int
    redis_memory_mb: int
    gateway_memory_mb: int
    # User-supplied gateway certificate and key (PEM), as secrets; both None means "self-signed".
    tls_certificate: pulumi.Output[str] | None
    tls_private_key: pulumi.Output[str] | None

    @property
    def client_host(self) -> str:
        """The address local clients dial: a wildcard bind address is not one they can use."""
        address = ipaddress.ip_address(self.gateway_bind_address)
        if address.is_unspecified:
            return "::1" if address.version == 6 else "127.0.0.1"
        return self.gateway_bind_address


def load_settings(config: pulumi.Config | None = None) -> Settings:
    """Read and validate every key; raise ConfigError naming the first key that is wrong."""
    config = config or pulumi.Config(NAMESPACE)

    def raw(key: str) -> str:
        value = config.get(key)
        return DEFAULTS[key] if value is None else value

    settings = Settings(
        gateway_bind_address=parse_ip_address("gatewayBindAddress", raw("gatewayBindAddress")),
        gateway_https_port=parse_port("gatewayHttpsPort", raw("gatewayHttpsPort")),
        gateway_http_port=parse_port("gatewayHttpPort", raw("gatewayHttpPort")),
        postgres_image=parse_image_reference("postgresImage", raw("postgresImage")),
        redis_image=parse_image_reference("redisImage", raw("redisImage")),
        nginx_image=parse_image_reference("nginxImage", raw("nginxImage")),
        python_image=parse_image_reference("pythonImage", raw("pythonImage")),
        cache_item_ttl_seconds=parse_positive_int(
            "cacheItemTtlSeconds", raw("cacheItemTtlSeconds")
        ),
        cache_list_ttl_seconds=parse_positive_int(
            "cacheListTtlSeconds", raw("cacheListTtlSeconds")
        ),
        gunicorn_workers=parse_int(
            "gunicornWorkers", raw("gunicornWorkers"), minimum=1, maximum=64
        ),
        gunicorn_threads=parse_int(
            "gunicornThreads", raw("gunicornThreads"), minimum=1, maximum=256
        ),
        log_level=parse_choice("logLevel", raw("logLevel"), LOG_LEVELS),
        publish_postgres=parse_bool("publishPostgres", raw("publishPostgres")),
        postgres_host_port=parse_port("postgresHostPort", raw("postgresHostPort")),
        publish_redis=parse_bool("publishRedis", raw("publishRedis")),
        redis_host_port=parse_port("redisHostPort", raw("redisHostPort")),
        cors_allowed_origins=parse_origins("corsAllowedOrigins", raw("corsAllowedOrigins")),
        service_memory_mb=_memory("serviceMemoryMb", raw("serviceMemoryMb")),
        postgres_memory_mb=_memory("postgresMemoryMb", raw("postgresMemoryMb")),
        redis_memory_mb=_memory("redisMemoryMb", raw("redisMemoryMb")),
        gateway_memory_mb=_memory("gatewayMemoryMb", raw("gatewayMemoryMb")),
        tls_certificate=_pem_secret(config, "tlsCertificate", "CERTIFICATE"),
        tls_private_key=_pem_secret(config, "tlsPrivateKey", "PRIVATE KEY"),
    )
    _check_published_ports(settings)
    if (settings.tls_certificate is None) != (settings.tls_private_key is None):
        missing = "tlsPrivateKey" if settings.tls_private_key is None else "tlsCertificate"
        raise ConfigError(
            missing, "tlsCertificate and tlsPrivateKey to be set together (or neither)"
        )
    return settings


def _pem_secret(config: pulumi.Config, key: str, block: str) -> pulumi.Output[str] | None:
    """A PEM value from secret config, checked here so a wrong paste fails the preview, not nginx.

    The value is read in the clear only for this check and never appears in the error message.
    """
    value = config.get(key)
    if value is None:
        return None
    if not re.search(rf"-----BEGIN ([A-Z]+ )?{block}-----", value):
        raise ConfigError(key, f"a PEM {block} block (set with `pulumi config set --secret`)")
    return pulumi.Output.secret(value)


def _memory(key: str, raw: str) -> int:
    # Docker refuses limits under 6 MB; anything below 32 MB cannot run these processes anyway.
    return parse_int(key, raw, minimum=32, maximum=1_048_576)


def _check_published_ports(settings: Settings) -> None:
    ports = {
        "gatewayHttpsPort": settings.gateway_https_port,
        "gatewayHttpPort": settings.gateway_http_port,
    }
    if settings.publish_postgres:
        ports["postgresHostPort"] = settings.postgres_host_port
    if settings.publish_redis:
        ports["redisHostPort"] = settings.redis_host_port
    require_distinct_ports(ports)
