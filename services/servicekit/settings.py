"""Service settings, read once from the environment into a frozen dataclass.

Every invalid value fails at start-up with a message naming the variable (architecture.md
lists them).
Secrets come from ``<NAME>_FILE`` (preferred: a mounted file) or ``<NAME>``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from servicekit.contract import LOG_LEVELS, SERVICE_PORT


class SettingsError(ValueError):
    """A configuration variable is missing or invalid; the message names it."""


@dataclass(frozen=True)
class Settings:
    service_name: str
    database_password: str = field(repr=False)
    redis_password: str = field(repr=False)
    database_host: str = "postgres"
    database_port: int = 5432
    database_name: str = "microstack"
    database_user: str = "microstack_app"
    database_connect_timeout_seconds: int = 2
    database_statement_timeout_ms: int = 5000
    database_pool_size: int = 4
    redis_host: str = "redis"
    redis_port: int = 6379
    redis_db: int = 0
    cache_item_ttl_seconds: int = 300
    cache_list_ttl_seconds: int = 60
    # Each worker's copy of what it read from Redis (cache.py, local_cache.py); 0 turns it off.
    cache_local_max_bytes: int = 2 * 1024 * 1024
    log_level: str = "INFO"
    cors_allowed_origins: tuple[str, ...] = ()
    trusted_proxy_count: int = 1

    @classmethod
    def from_env(cls, service_name: str, environ: Mapping[str, str] | None = None) -> Settings:
        env = _Environment(os.environ if environ is None else environ)
        return cls(
            service_name=env.text("SERVICE_NAME", service_name),
            database_password=env.secret("DATABASE_PASSWORD"),
            redis_password=env.secret("REDIS_PASSWORD"),
            database_host=env.text("DATABASE_HOST", "postgres"),
            database_port=env.integer("DATABASE_PORT", 5432, minimum=1, maximum=65535),
            database_name=env.text("DATABASE_NAME", "microstack"),
            database_user=env.text("DATABASE_USER", "microstack_app"),
            # libpq treats connect_timeout values below 2 as 2 seconds.
            database_connect_timeout_seconds=env.integer(
                "DATABASE_CONNECT_TIMEOUT_SECONDS", 2, minimum=2, maximum=60
            ),
            database_statement_timeout_ms=env.integer(
                "DATABASE_STATEMENT_TIMEOUT_MS", 5000, minimum=1, maximum=600_000
            ),
            # One connection per gthread thread: psycopg2's pool never waits, it fails when empty.
            database_pool_size=env.integer(
                "DATABASE_POOL_SIZE", _gunicorn_threads(env), minimum=1, maximum=256
            ),
            redis_host=env.text("REDIS_HOST", "redis"),
            redis_port=env.integer("REDIS_PORT", 6379, minimum=1, maximum=65535),
            redis_db=env.integer("REDIS_DB", 0, minimum=0, maximum=15),
            cache_item_ttl_seconds=env.integer("CACHE_ITEM_TTL_SECONDS", 300, minimum=1),
            cache_list_ttl_seconds=env.integer("CACHE_LIST_TTL_SECONDS", 60, minimum=1),
            cache_local_max_bytes=env.integer(
                "CACHE_LOCAL_MAX_BYTES", 2 * 1024 * 1024, minimum=0, maximum=1024 * 1024 * 1024
            ),
            log_level=_log_level(env),
            cors_allowed_origins=env.csv("CORS_ALLOWED_ORIGINS"),
            trusted_proxy_count=env.integer("TRUSTED_PROXY_COUNT", 1, minimum=0, maximum=10),
        )


@dataclass(frozen=True)
class ServerSettings:
    """What gunicorn needs (servicekit/gunicorn_config.py), parsed by the same rules."""

    port: int = SERVICE_PORT
    workers: int = 2
    threads: int = 4
    log_level: str = "INFO"
    # How long a replica told to stop keeps serving while /health says "draining".
    drain_seconds: int = 2

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServerSettings:
        env = _Environment(os.environ if environ is None else environ)
        return cls(
            port=env.integer("PORT", SERVICE_PORT, minimum=1, maximum=65535),
            workers=env.integer("GUNICORN_WORKERS", 2, minimum=1, maximum=64),
            threads=_gunicorn_threads(env),
            log_level=_log_level(env),
            drain_seconds=env.integer("GUNICORN_DRAIN_SECONDS", 2, minimum=0, maximum=15),
        )


def _gunicorn_threads(env: _Environment) -> int:
    return env.integer("GUNICORN_THREADS", 4, minimum=1, maximum=256)


def _log_level(env: _Environment) -> str:
    return env.choice("LOG_LEVEL", "INFO", LOG_LEVELS)


@dataclass(frozen=True)
class _Environment:
    values: Mapping[str, str]

    def text(self, name: str, default: str) -> str:
        value = self.values.get(name, "").strip()
        return value or default

    def integer(
        self, name: str, default: int, *, minimum: int = 0, maximum: int = 2**31 - 1
    ) -> int:
        raw = self.values.get(name, "").strip()
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
        if not minimum <= value <= maximum:
            raise SettingsError(f"{name} must be between {minimum} and {maximum}, got {value}")
        return value

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self.text(name, default).upper()
        if value not in allowed:
            raise SettingsError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        return value

    def csv(self, name: str) -> tuple[str, ...]:
        parts = (part.strip() for part in self.values.get(name, "").split(","))
        return tuple(part for part in parts if part)

    def secret(self, name: str) -> str:
        """``<name>_FILE`` wins over ``<name>``; a trailing newline (editors add one) is dropped."""
        file_name = self.values.get(f"{name}_FILE", "").strip()
        if file_name:
            try:
                value = Path(file_name).read_text(encoding="utf-8").removesuffix("\n")
            except OSError as error:
                raise SettingsError(
                    f"{name}_FILE points to an unreadable file: {error.strerror}"
                ) from None
        else:
            value = self.values.get(name, "")
        if not value:
            raise SettingsError(f"{name}_FILE or {name} must be set")
        return value
