"""TLS: Mozilla intermediate protocol versions, a verifiable certificate, HTTP redirected."""

from __future__ import annotations

import http.client
import socket
import ssl
from pathlib import Path

import pytest
import requests

from launchers.gateway import Gateway
from tests.support.https import tls_context

ACCEPTED = [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3]
REFUSED = [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1]


def _handshake(gateway: Gateway, context: ssl.SSLContext) -> str | None:
    with (
        socket.create_connection(("127.0.0.1", gateway.https_port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        return tls.version()


@pytest.mark.parametrize("version", ACCEPTED, ids=lambda version: version.name)
def test_tls_1_2_and_1_3_are_accepted(
    gateway: Gateway, ca_file: Path, version: ssl.TLSVersion
) -> None:
    assert _handshake(gateway, tls_context(ca_file, version)) == version.name.replace("_", ".")


@pytest.mark.parametrize("version", REFUSED, ids=lambda version: version.name)
def test_tls_1_0_and_1_1_are_refused_by_the_gateway(
    gateway: Gateway, ca_file: Path, version: ssl.TLSVersion
) -> None:
    with pytest.raises(ssl.SSLError) as refused:
        _handshake(gateway, tls_context(ca_file, version))

    # The server's alert, not the client declining to offer the old version (tls_context lets it).
    assert refused.value.reason == "TLSV1_ALERT_PROTOCOL_VERSION"


def test_tls_1_2_negotiates_an_aead_suite(gateway: Gateway, ca_file: Path) -> None:
    context = tls_context(ca_file, ssl.TLSVersion.TLSv1_2)
    with (
        socket.create_connection(("127.0.0.1", gateway.https_port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        cipher = tls.cipher()

    assert cipher is not None
    assert cipher[0].startswith("ECDHE-")
    assert "GCM" in cipher[0] or "CHACHA20" in cipher[0]


def test_tls_1_2_refuses_cbc_suites(gateway: Gateway, ca_file: Path) -> None:
    context = tls_context(ca_file, ssl.TLSVersion.TLSv1_2)
    context.set_ciphers("ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES128-SHA")

    with pytest.raises(ssl.SSLError) as refused:
        _handshake(gateway, context)

    assert refused.value.reason == "SSLV3_ALERT_HANDSHAKE_FAILURE"


def test_certificate_verifies_for_localhost_name(gateway: Gateway, ca_file: Path) -> None:
    connection = http.client.HTTPSConnection(
        "localhost", gateway.https_port, context=tls_context(ca_file), timeout=5
    )
    try:
        connection.request("GET", "/api/health")
        assert connection.getresponse().status == 200
    finally:
        connection.close()


def test_an_untrusted_client_fails_verification(gateway: Gateway) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(gateway, ssl.create_default_context())


def test_http_redirects_permanently_to_https_keeping_path_and_query(
    https: requests.Session, gateway: Gateway
) -> None:
    response = https.get(f"{gateway.http_url}/api/v1/users?limit=1", allow_redirects=False)

    assert response.status_code == 301
    assert response.headers["Location"] == f"{gateway.url}/api/v1/users?limit=1"


def test_following_the_redirect_reaches_the_service(
    https: requests.Session, gateway: Gateway
) -> None:
    response = https.get(f"{gateway.http_url}/api/v1/users?limit=1")

    assert response.status_code == 200
    assert response.url.startswith("https://")


def test_plain_http_on_the_https_port_gets_a_json_400(
    https: requests.Session, gateway: Gateway
) -> None:
    response = https.get(f"http://127.0.0.1:{gateway.https_port}/api/v1/users")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "https_required"


def test_server_header_hides_the_version(https: requests.Session, gateway: Gateway) -> None:
    response = https.get(f"{gateway.url}/api/health")

    assert response.headers["Server"] == "nginx"
