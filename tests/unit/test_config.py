"""Configuration: defaults, and a clear error naming the key for every kind of wrong value."""

from __future__ import annotations

import re
from typing import Any

import pytest

from infra.config import DEFAULTS
from infra.validation import ConfigError, parse_registry
from tests.support.evaluation import REPOSITORY, Evaluate


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("gatewayHttpsPort", "0", "integer from 1 to 65535"),
        ("gatewayHttpsPort", "70000", "integer from 1 to 65535"),
        ("gatewayHttpPort", "http", "integer from 1 to 65535"),
        ("postgresHostPort", "-5", "integer from 1 to 65535"),
        ("gatewayBindAddress", "localhost", "IPv4 or IPv6 address"),
        ("gatewayRateLimitPerSecond", "0", "integer from 1 to 1000000"),
        ("gatewayRateLimitPerSecond", "fast", "integer from 1 to 1000000"),
        ("gatewayRateLimitBurst", "-1", "integer from 0 to 1000000"),
        ("gatewayBindAddress", "127.0.0.300", "IPv4 or IPv6 address"),
        ("logLevel", "verbose", "one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ("postgresImage", "", "pinned tag or digest"),
        ("redisImage", "redis", "pinned tag or digest"),
        ("nginxImage", "nginx:latest", "pinned tag or digest"),
        ("pythonImage", "Python:3.11", "pinned tag or digest"),
        ("postgresImage", "postgres@sha256:abc", "pinned tag or digest"),
        ("serviceReplicas", "0", "integer from 1 to 16"),
        ("serviceReplicas", "17", "integer from 1 to 16"),
        ("ordersReplicas", "two", "integer from 1 to 16"),
        ("usersReplicas", "-1", "integer from 1 to 16"),
        ("gunicornWorkers", "0", "integer from 1 to 64"),
        ("gunicornThreads", "2.5", "integer from 1 to 256"),
        ("cacheItemTtlSeconds", "-1", "integer from 1"),
        ("cacheListTtlSeconds", "", "integer from 1"),
        ("publishPostgres", "yes", "true or false"),
        ("publishRedis", "1", "true or false"),
        ("serviceMemoryMb", "16", "integer from 32"),
        ("gatewayMemoryMb", "lots", "integer from 32"),
        ("corsAllowedOrigins", "example.com", "origins like https://"),
        ("corsAllowedOrigins", '["https://ok.example", 42]', "origins like https://"),
        ("target", "kubernetes", "one of containers, swarm"),
        ("swarmEndpointMode", "ingress", "one of vip, dnsrr"),
        ("imageRegistry", "team/images", "registry host[:port][/path]"),
        ("imageRegistry", "registry.local:5000/Team", "registry host[:port][/path]"),
    ],
)
def test_invalid_value_fails_naming_the_key_and_what_is_allowed(
    evaluate: Evaluate, key: str, value: str, allowed: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"microstack:{key}: expected")) as failure:
        evaluate({key: value})
    assert allowed in str(failure.value)
    assert failure.value.key == key


def test_colliding_host_ports_name_the_second_key(evaluate: Evaluate) -> None:
    with pytest.raises(ConfigError, match=r"microstack:gatewayHttpsPort: .*gatewayHttpPort"):
        evaluate({"gatewayHttpsPort": 9000, "gatewayHttpPort": 9000})


def test_published_store_port_may_not_collide_with_the_gateway(evaluate: Evaluate) -> None:
    with pytest.raises(ConfigError, match="microstack:postgresHostPort"):
        evaluate({"publishPostgres": True, "postgresHostPort": 8443})


def test_unpublished_store_port_is_not_checked_for_collisions(evaluate: Evaluate) -> None:
    evaluation = evaluate({"postgresHostPort": 8443})
    assert evaluation.outputs["postgres"]["port"] is None


def test_certificate_without_key_is_refused_without_echoing_the_secret(evaluate: Evaluate) -> None:
    pem = "-----BEGIN CERTIFICATE-----\nsecret-looking\n-----END CERTIFICATE-----\n"
    with pytest.raises(ConfigError, match="microstack:tlsPrivateKey") as failure:
        evaluate({"tlsCertificate": pem})
    assert "secret-looking" not in str(failure.value)


def test_valid_values_are_accepted_and_normalised(evaluate: Evaluate) -> None:
    evaluation = evaluate(
        {
            "gatewayBindAddress": "0.0.0.0",
            "gatewayHttpsPort": 9443,
            "logLevel": "debug",
            "corsAllowedOrigins": [
                "https://b.example",
                "http://localhost:3000",
                "https://b.example",
            ],
            "postgresImage": "registry.local:5000/team/postgres:16@sha256:" + "a" * 64,
        }
    )
    users = evaluation.resource("users-1").inputs
    assert "LOG_LEVEL=DEBUG" in users["envs"]
    assert "CORS_ALLOWED_ORIGINS=http://localhost:3000,https://b.example" in users["envs"]
    assert evaluation.resource("postgres-image").inputs["name"].startswith("registry.local:5000/")
    # A wildcard bind address is not something a client can dial: URLs use loopback.
    assert evaluation.outputs["gateway_url"] == "https://127.0.0.1:9443"


def test_ipv6_bind_address_is_bracketed_in_urls(evaluate: Evaluate) -> None:
    outputs = evaluate({"gatewayBindAddress": "::1"}).outputs
    assert outputs["gateway_url"] == "https://[::1]:8443"
    assert outputs["health_url"] == "https://[::1]:8443/api/health"


def test_every_default_is_documented_in_the_dev_stack_file() -> None:
    text = (REPOSITORY / "Pulumi.dev.yaml").read_text()
    documented: dict[str, Any] = dict(
        re.findall(r"^  microstack:(\w+): ?(.*)$", text, flags=re.MULTILINE)
    )
    assert set(documented) == set(DEFAULTS)
    for key, default in DEFAULTS.items():
        assert documented[key].strip('"') == default, key


@pytest.mark.parametrize(
    ("key", "value"),
    [("tlsCertificate", "not a certificate"), ("tlsPrivateKey", "hunter2-private-value")],
)
def test_malformed_pem_is_refused_without_echoing_it(
    evaluate: Evaluate, key: str, value: str
) -> None:
    pair = {
        "tlsCertificate": "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n",
        "tlsPrivateKey": "-----BEGIN EC PRIVATE KEY-----\nx\n-----END EC PRIVATE KEY-----\n",
    }
    with pytest.raises(ConfigError, match=f"microstack:{key}: expected a PEM") as failure:
        evaluate(pair | {key: value})
    assert value not in str(failure.value)


def test_the_swarm_target_asks_for_a_wildcard_bind_address(evaluate: Evaluate) -> None:
    # A Swarm port has no host address: 127.0.0.1 could not hold, so it is refused, not ignored.
    with pytest.raises(
        ConfigError, match=re.escape("microstack:gatewayBindAddress: expected 0.0.0.0 or ::")
    ):
        evaluate({"target": "swarm"})


def test_a_registry_is_refused_for_the_containers_target(evaluate: Evaluate) -> None:
    with pytest.raises(ConfigError, match="microstack:imageRegistry: expected no registry"):
        evaluate({"imageRegistry": "registry.local:5000"})


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [("", None), ("localhost:5000", "localhost:5000"), ("reg.example/team/", "reg.example/team")],
)
def test_registry_values_are_normalised(raw: str, parsed: str | None) -> None:
    assert parse_registry("imageRegistry", raw) == parsed
