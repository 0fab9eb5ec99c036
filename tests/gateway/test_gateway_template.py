"""The template renders for the container's variables and refuses to render with one missing."""

from __future__ import annotations

import dataclasses

import jinja2
import pytest

from infra.gateway_config import (
    GatewayFiles,
    GatewayVariables,
    render_gateway_config,
    render_template,
)
from launchers.gateway import TEMPLATE

TEMPLATE_TEXT = TEMPLATE.read_text()
CONTAINER_VARIABLES = GatewayVariables(
    listen_address="0.0.0.0",
    https_port=8443,
    http_port=8080,
    public_https_port=443,
    upstreams={name: [f"{name}:8000"] for name in ("users", "products", "orders")},
    files=GatewayFiles(
        tls_certificate="/etc/nginx/tls/gateway.crt",
        tls_certificate_key="/etc/nginx/tls/gateway.key",
        js_dir="/etc/nginx/njs",
        pid_path="/tmp/nginx.pid",
        temp_dir="/tmp/nginx",
        access_log="/dev/stdout",
        error_log="/dev/stderr",
    ),
)
TEMPLATE_VALUES = CONTAINER_VARIABLES.template_variables()


def render(variables: GatewayVariables) -> str:
    return render_gateway_config(TEMPLATE_TEXT, variables)


def test_container_rendering_listens_on_the_container_ports() -> None:
    config = render(CONTAINER_VARIABLES)

    assert "listen 0.0.0.0:8443 ssl http2 default_server;" in config
    assert "listen 0.0.0.0:8080 default_server;" in config
    assert "server users:8000 max_fails=1 fail_timeout=5s;" in config


def test_redirect_omits_the_default_https_port() -> None:
    config = render(CONTAINER_VARIABLES)

    assert "return 301 https://$host$request_uri;" in config


def test_redirect_names_a_non_default_public_port() -> None:
    config = render(dataclasses.replace(CONTAINER_VARIABLES, public_https_port=8443))

    assert "return 301 https://$host:8443$request_uri;" in config


def test_nothing_replays_non_idempotent_requests() -> None:
    assert "non_idempotent" not in render(CONTAINER_VARIABLES)


@pytest.mark.parametrize("missing", sorted(TEMPLATE_VALUES))
def test_every_variable_is_required(missing: str) -> None:
    values = {k: v for k, v in TEMPLATE_VALUES.items() if k != missing}

    with pytest.raises(jinja2.UndefinedError, match=missing):
        render_template(TEMPLATE_TEXT, values)
