"""The stack's configuration, read once from `pulumi.Config("microstack")` into a frozen object.

Every other module receives a `Settings`; none calls `pulumi.Config()` itself. Keys, defaults and
allowed values are listed in Pulumi.dev.yaml and docs/architecture.md.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import pulumi
from servicekit.contract import LOG_LEVELS

from infra.validation import (
    NAMESPACE,
    ConfigError,
    parse_bool,
    parse_choice,
    parse_image_reference,
    parse_int,
    parse_ip_address,
    parse_keyword,
    parse_optional_int,
    parse_origins,
    parse_port,
    parse_positive_int,
    parse_registry,
    require_distinct_ports,
)

# Where the platform runs: today's containers on one engine, or services on a Docker Swarm
# (docs/architecture.md, "Targets").
CONTAINERS = "containers"
SWARM = "swarm"
TARGETS = (CONTAINERS, SWARM)
# How a Swarm service name resolves: one virtual IP that Swarm balances (IPVS), or every task's
# address, which the gateway balances and watches itself (needed where the kernel has no IPVS).
ENDPOINT_MODES = ("vip", "dnsrr")

# Replicas per service: each its own container. Two keep a service up while one is replaced or
# restarts; sixteen is far past what one Docker engine gains from.
MAX_REPLICAS = 16
_parse_replicas = partial(parse_int, minimum=1, maximum=MAX_REPLICAS)
_parse_replica_override = partial(parse_optional_int, minimum=1, maximum=MAX_REPLICAS)

# Docker refuses limits under 6 MB; anything below 32 MB cannot run these processes anyway.
_parse_memory = partial(parse_int, minimum=32, maximum=1_048_576)


@dataclass(frozen=True)
class Option:
    """One plain config key: its default (as the CLI passes it, a string) and its parser."""

    default: str
    parse: Callable[[str, str], object]


# Key -> option; each key fills the Settings field of the same name in snake_case
# (gatewayHttpsPort -> gateway_https_port). Checked in this order, so the first wrong key is named.
# Images: official ones, pinned to the releases CI proves the stack on. tests/engine builds
# stand-ins of the same versions from Debian bookworm (PostgreSQL 15, Redis 7, nginx 1.22, Python
# 3.11), since no registry is reachable there; test_image_pins.py keeps the two in step. The nginx
# image ships the njs module the gateway needs.
OPTIONS: dict[str, Option] = {
    "target": Option(CONTAINERS, partial(parse_keyword, choices=TARGETS)),
    "swarmEndpointMode": Option("vip", partial(parse_keyword, choices=ENDPOINT_MODES)),
    # Empty: images are built on, and run from, the one engine Pulumi talks to.
    "imageRegistry": Option("", parse_registry),
    "gatewayBindAddress": Option("127.0.0.1", parse_ip_address),
    "gatewayHttpsPort": Option("8443", parse_port),
    "gatewayHttpPort": Option("8080", parse_port),
    # nginx limit_req per client address: a sustained rate and the burst answered without delay.
    "gatewayRateLimitPerSecond": Option("50", partial(parse_int, minimum=1, maximum=1_000_000)),
    "gatewayRateLimitBurst": Option("100", partial(parse_int, minimum=0, maximum=1_000_000)),
    "postgresImage": Option("postgres:15.10-bookworm", parse_image_reference),
    "redisImage": Option("redis:7.4.1-bookworm", parse_image_reference),
    "nginxImage": Option("nginx:1.22.1", parse_image_reference),
    "pythonImage": Option("python:3.11.11-slim-bookworm", parse_image_reference),
    "cacheItemTtlSeconds": Option("300", parse_positive_int),
    "cacheListTtlSeconds": Option("60", parse_positive_int),
    "serviceReplicas": Option("2", _parse_replicas),
    # Per-service overrides of serviceReplicas; empty means "as serviceReplicas".
    "usersReplicas": Option("", _parse_replica_override),
    "productsReplicas": Option("", _parse_replica_override),
    "ordersReplicas": Option("", _parse_replica_override),
    "gunicornWorkers": Option("2", partial(parse_int, minimum=1, maximum=64)),
    "gunicornThreads": Option("4", partial(parse_int, minimum=1, maximum=256)),
    "logLevel": Option("INFO", partial(parse_choice, choices=LOG_LEVELS)),
    "publishPostgres": Option("false", parse_bool),
    "postgresHostPort": Option("5432", parse_port),
    "publishRedis": Option("false", parse_bool),
    "redisHostPort": Option("6379", parse_port),
    "corsAllowedOrigins": Option("", parse_origins),
    "serviceMemoryMb": Option("256", _parse_memory),
    "postgresMemoryMb": Option("512", _parse_memory),
    "redisMemoryMb": Option("128", _parse_memory),
    "gatewayMemoryMb": Option("128", _parse_memory),
}
DEFAULTS: dict[str, str] = {key: option.default for key, option in OPTIONS.items()}


@dataclass(frozen=True)
class Settings:
    target: str
    swarm_endpoint_mode: str
    image_registry: str | None
    gateway_bind_address: str
    gateway_https_port: int
    gateway_http_port: int
    gateway_rate_limit_per_second: int
    gateway_rate_limit_burst: int
    postgres_image: str
    redis_image: str
    nginx_image: str
    python_image: str
    cache_item_ttl_seconds: int
    cache_list_ttl_seconds: int
    service_replicas: int
    users_replicas: int | None
    products_replicas: int | None
    orders_replicas: int | None
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
    def swarm(self) -> bool:
        return self.target == SWARM

    def replicas(self, service: str) -> int:
        """How many containers run `service`: its own override, else serviceReplicas."""
        overrides = {
            "users": self.users_replicas,
            "products": self.products_replicas,
            "orders": self.orders_replicas,
        }
        override = overrides[service]
        return self.service_replicas if override is None else override

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
    # Each parser returns its own field's type; a table of parsers cannot tell mypy which is which,
    # and test_config.py checks every key's parsed value.
    values: dict[str, Any] = {
        _field_name(key): option.parse(key, _raw(config, key, option.default))
        for key, option in OPTIONS.items()
    }
    settings = Settings(
        **values,
        tls_certificate=_pem_secret(config, "tlsCertificate", "CERTIFICATE"),
        tls_private_key=_pem_secret(config, "tlsPrivateKey", "PRIVATE KEY"),
    )
    _check_published_ports(settings)
    _check_target(settings)
    if (settings.tls_certificate is None) != (settings.tls_private_key is None):
        missing = "tlsPrivateKey" if settings.tls_private_key is None else "tlsCertificate"
        raise ConfigError(
            missing, "tlsCertificate and tlsPrivateKey to be set together (or neither)"
        )
    return settings


def _raw(config: pulumi.Config, key: str, default: str) -> str:
    value = config.get(key)
    return default if value is None else value


def _field_name(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


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


def _check_target(settings: Settings) -> None:
    if settings.swarm:
        # A Swarm port has no host address (the Engine API's PortConfig): a host-mode port listens
        # on every address of its node. Asking for 0.0.0.0 (or ::) says so instead of pretending
        # that 127.0.0.1 still holds.
        if not ipaddress.ip_address(settings.gateway_bind_address).is_unspecified:
            raise ConfigError(
                "gatewayBindAddress",
                "0.0.0.0 or :: with microstack:target swarm (Swarm publishes a port on every "
                "address of its node)",
                settings.gateway_bind_address,
            )
    elif settings.image_registry is not None:
        raise ConfigError(
            "imageRegistry",
            "no registry with microstack:target containers (its images never leave the engine)",
            settings.image_registry,
        )
