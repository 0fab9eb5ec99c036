"""What the services receive from the gateway: HTTP/1.1 on reused connections, forwarded headers.

An echo upstream (stdlib HTTP server) reports exactly what nginx sent; the keep-alive check is then
repeated against the real gunicorn services by watching their TCP sockets.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from launchers.gateway import Gateway
from launchers.stack import LocalStack
from launchers.tls import self_signed_certificate
from tests.support.https import gateway_session, write_ca_file

TCP_STATES = {"01": "established", "06": "time_wait"}


class EchoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = json.dumps(
            {
                "request_version": self.request_version,
                "path": self.path,
                "client_port": self.client_address[1],
                "headers": {name.lower(): value for name, value in self.headers.items()},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def echo_gateway(scratch_directory: Callable[[str], Path]) -> Iterator[tuple[Gateway, Path]]:
    echo = ThreadingHTTPServer(("127.0.0.1", 0), EchoHandler)
    thread = threading.Thread(target=echo.serve_forever, daemon=True)
    thread.start()
    address = f"127.0.0.1:{echo.server_address[1]}"
    upstreams = {name: [address] for name in ("users", "products", "orders")}
    gateway = Gateway(scratch_directory("echo-gateway"), upstreams, self_signed_certificate())
    gateway.start()
    ca_file = write_ca_file(gateway.certificate.certificate_pem, gateway.base_dir)
    yield gateway, ca_file
    gateway.stop()
    echo.shutdown()
    echo.server_close()


def _echo(echo_gateway: tuple[Gateway, Path], path: str, **headers: str) -> dict[str, Any]:
    gateway, ca_file = echo_gateway
    with gateway_session(ca_file) as session:
        response = session.get(f"{gateway.url}{path}", headers=headers)
    assert response.status_code == 200
    return response.json()


def test_upstream_requests_are_http_1_1_without_connection_close(
    echo_gateway: tuple[Gateway, Path],
) -> None:
    seen = _echo(echo_gateway, "/api/v1/users")

    assert seen["request_version"] == "HTTP/1.1"
    assert seen["headers"].get("connection", "") == ""


def test_forwarded_headers_describe_the_client_side(echo_gateway: tuple[Gateway, Path]) -> None:
    gateway, _ = echo_gateway

    seen = _echo(echo_gateway, "/api/v1/products/7", **{"X-Forwarded-For": "203.0.113.9"})

    headers = seen["headers"]
    assert headers["x-forwarded-proto"] == "https"
    assert headers["x-forwarded-host"] == "127.0.0.1"
    assert headers["x-forwarded-port"] == str(gateway.https_port)
    assert headers["x-real-ip"] == "127.0.0.1"
    # nginx appends the peer it saw; a service trusting one hop (ProxyFix) uses that last entry.
    assert headers["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert seen["path"] == "/api/v1/products/7"


def test_request_id_is_forwarded_to_the_upstream(echo_gateway: tuple[Gateway, Path]) -> None:
    seen = _echo(echo_gateway, "/api/v1/orders", **{"X-Request-ID": "trace-me-42"})

    assert seen["headers"]["x-request-id"] == "trace-me-42"


def test_stats_path_is_rewritten_for_the_service(echo_gateway: tuple[Gateway, Path]) -> None:
    assert _echo(echo_gateway, "/api/v1/orders/stats")["path"] == "/api/v1/stats"


def test_sequential_requests_reuse_one_upstream_connection(
    echo_gateway: tuple[Gateway, Path],
) -> None:
    gateway, ca_file = echo_gateway
    with gateway_session(ca_file) as session:
        ports = {
            session.get(f"{gateway.url}/api/v1/users").json()["client_port"] for _ in range(20)
        }

    # One client connection lands on one nginx worker, which keeps its upstream connection open.
    assert len(ports) == 1


def _sockets_on_port(port: int) -> list[str]:
    """States of the loopback TCP sockets with ``port`` at either end (from /proc/net/tcp)."""
    states = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        remote_port = int(fields[2].rsplit(":", 1)[1], 16)
        if port in (local_port, remote_port) and fields[3] in TCP_STATES:
            states.append(TCP_STATES[fields[3]])
    return states


def test_real_service_connections_are_kept_alive_not_reopened(
    https: requests.Session, gateway: Gateway, local_stack: LocalStack
) -> None:
    port = local_stack.services["products"].port
    closed_before = _sockets_on_port(port).count("time_wait")

    for _ in range(30):
        assert https.get(f"{gateway.url}/api/v1/products/1").status_code == 200

    states = _sockets_on_port(port)
    # Without keep-alive every request would leave a TIME_WAIT socket behind: 30 of them.
    assert states.count("time_wait") - closed_before < 3
    assert states.count("established") >= 2  # both ends of at least one pooled connection
