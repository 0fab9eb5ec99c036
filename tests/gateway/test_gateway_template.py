"""The template renders for the container's variables and refuses to render with one missing."""

from __future__ import annotations

from typing import Any

import jinja2
import pytest

from scripts.devstack.gateway import render_gateway_config

CONTAINER_VARIABLES: dict[str, Any] = {
    "listen_address": "0.0.0.0",
    "https_port": 8443,
    "http_port": 8080,
    "public_https_port": 443,
    "upstreams": {"users": "users:8000", "products": "products:8000", "orders": "orders:8000"},
    "tls_certificate": "/etc/nginx/tls/gateway.crt",
    "tls_certificate_key": "/etc/nginx/tls/gateway.key",
    "js_module_path": "/usr/lib/nginx/modules/ngx_http_js_module.so",
    "js_dir": "/etc/nginx/njs",
    "pid_path": "/tmp/nginx.pid",
    "temp_dir": "/tmp/nginx",
    "access_log": "/dev/stdout",
    "error_log": "/dev/stderr",
    "rate_limit_per_second": 50,
    "rate_limit_burst": 100,
    "client_max_body_size": "1m",
}


def test_container_rendering_listens_on_the_container_ports() -> None:
    config = render_gateway_config(CONTAINER_VARIABLES)

    assert "listen 0.0.0.0:8443 ssl http2 default_server;" in config
    assert "listen 0.0.0.0:8080 default_server;" in config
    assert "server users:8000;" in config


def test_redirect_omits_the_default_https_port() -> None:
    config = render_gateway_config(CONTAINER_VARIABLES)

    assert "return 301 https://$host$request_uri;" in config


def test_redirect_names_a_non_default_public_port() -> None:
    config = render_gateway_config({**CONTAINER_VARIABLES, "public_https_port": 8443})

    assert "return 301 https://$host:8443$request_uri;" in config


def test_nothing_replays_non_idempotent_requests() -> None:
    assert "non_idempotent" not in render_gateway_config(CONTAINER_VARIABLES)


@pytest.mark.parametrize("missing", sorted(CONTAINER_VARIABLES))
def test_every_variable_is_required(missing: str) -> None:
    variables = {k: v for k, v in CONTAINER_VARIABLES.items() if k != missing}

    with pytest.raises(jinja2.UndefinedError, match=missing):
        render_gateway_config(variables)
