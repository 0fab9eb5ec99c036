"""Settings from the environment: defaults, secrets from files, errors that name the variable."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from servicekit import gunicorn_config
from servicekit.settings import Settings, SettingsError

REQUIRED = {"DATABASE_PASSWORD": "db-secret", "REDIS_PASSWORD": "redis-secret"}


def test_defaults_follow_the_contract() -> None:
    settings = Settings.from_env("users", REQUIRED)
    assert (settings.service_name, settings.database_host, settings.database_port) == (
        "users",
        "postgres",
        5432,
    )
    assert (settings.database_name, settings.database_user) == ("microstack", "microstack_app")
    assert (settings.redis_host, settings.redis_port, settings.redis_db) == ("redis", 6379, 0)
    assert (settings.cache_item_ttl_seconds, settings.cache_list_ttl_seconds) == (300, 60)
    assert (settings.database_connect_timeout_seconds, settings.database_statement_timeout_ms) == (
        2,
        5000,
    )
    assert settings.database_pool_size == 4  # = GUNICORN_THREADS default
    assert (settings.cors_allowed_origins, settings.trusted_proxy_count) == ((), 1)


def test_pool_size_follows_threads_unless_set() -> None:
    assert Settings.from_env("x", {**REQUIRED, "GUNICORN_THREADS": "9"}).database_pool_size == 9
    environ = {**REQUIRED, "GUNICORN_THREADS": "9", "DATABASE_POOL_SIZE": "3"}
    assert Settings.from_env("x", environ).database_pool_size == 3


def test_password_file_wins_and_loses_its_trailing_newline(tmp_path: Path) -> None:
    secret = tmp_path / "db-password"
    secret.write_text("from-file\n")
    settings = Settings.from_env("x", {**REQUIRED, "DATABASE_PASSWORD_FILE": str(secret)})
    assert settings.database_password == "from-file"
    assert "from-file" not in repr(settings)


def test_cors_origins_are_comma_separated() -> None:
    environ = {**REQUIRED, "CORS_ALLOWED_ORIGINS": " https://a.example, ,https://b.example "}
    origins = Settings.from_env("x", environ).cors_allowed_origins
    assert origins == ("https://a.example", "https://b.example")


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"REDIS_PASSWORD": "r"}, "DATABASE_PASSWORD"),
        ({"DATABASE_PASSWORD": "d"}, "REDIS_PASSWORD"),
        ({**REQUIRED, "DATABASE_PORT": "five"}, "DATABASE_PORT"),
        ({**REQUIRED, "DATABASE_PORT": "70000"}, "DATABASE_PORT"),
        ({**REQUIRED, "REDIS_DB": "16"}, "REDIS_DB"),
        ({**REQUIRED, "CACHE_ITEM_TTL_SECONDS": "0"}, "CACHE_ITEM_TTL_SECONDS"),
        ({**REQUIRED, "CACHE_LOCAL_MAX_BYTES": "-1"}, "CACHE_LOCAL_MAX_BYTES"),
        ({**REQUIRED, "DATABASE_STATEMENT_TIMEOUT_MS": "-5"}, "DATABASE_STATEMENT_TIMEOUT_MS"),
        ({**REQUIRED, "LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({**REQUIRED, "GUNICORN_THREADS": "0"}, "GUNICORN_THREADS"),
        ({**REQUIRED, "REDIS_PASSWORD_FILE": "/nonexistent/secret"}, "REDIS_PASSWORD_FILE"),
    ],
)
def test_invalid_setting_fails_naming_the_variable(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env("x", environ)


def test_gunicorn_config_reads_port_workers_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "8123")
    monkeypatch.setenv("GUNICORN_WORKERS", "3")
    monkeypatch.setenv("GUNICORN_THREADS", "6")
    config = importlib.reload(gunicorn_config)
    assert (config.bind, config.workers, config.threads) == ("0.0.0.0:8123", 3, 6)
    # Preloaded, so the workers share the app's pages; connections are made after the fork.
    assert (config.worker_class, config.preload_app) == ("gthread", True)
    assert callable(config.post_fork) and callable(config.when_ready)
    assert config.control_socket_disable is True
    assert config.graceful_timeout > 0
    monkeypatch.setenv("GUNICORN_WORKERS", "many")
    with pytest.raises(SettingsError, match="GUNICORN_WORKERS"):
        importlib.reload(gunicorn_config)
    monkeypatch.delenv("GUNICORN_WORKERS")
    importlib.reload(gunicorn_config)
