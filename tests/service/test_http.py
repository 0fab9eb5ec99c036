"""What every service shares: errors for bad HTTP, request ids, health, OpenAPI, CORS, logs."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from user_service import create_app
from werkzeug.exceptions import TooManyRequests

from launchers.postgres import PostgresServer
from tests.service.assertions import assert_error
from tests.support.database import ApplicationDatabase
from tests.support.factories import ClientFactory

SERVICE_NAMES = ["users", "products", "orders"]
WRITE_ENDPOINTS = [
    ("users", "POST", "/api/v1/users"),
    ("products", "POST", "/api/v1/products"),
    ("products", "PATCH", "/api/v1/products/1/stock"),
    ("orders", "POST", "/api/v1/orders"),
    ("orders", "PATCH", "/api/v1/orders/4/status"),
]


@pytest.fixture(params=SERVICE_NAMES)
def service(request: pytest.FixtureRequest, make_client: ClientFactory) -> tuple[str, FlaskClient]:
    return request.param, make_client(request.param)


def table_counts(query: Any) -> dict[str, Any]:
    return query(
        """SELECT (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM orders) AS orders,
                  (SELECT count(*) FROM products) AS products, (SELECT sum(stock) FROM products)
                  AS stock, (SELECT string_agg(status, ',' ORDER BY id) FROM orders) AS statuses"""
    )[0]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        ('{"username": ', "application/json", 400, "bad_request"),
        ("", "application/json", 400, "bad_request"),
        ("\xff\xfe", "application/json", 400, "bad_request"),
        ('{"a": 1}', "text/plain", 415, "unsupported_media_type"),
        ('{"a": 1}', "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        ("", None, 415, "unsupported_media_type"),
        ("[" * 100_000, "application/json", 400, "bad_request"),
        (" " * (1024 * 1024 + 1), "application/json", 413, "request_entity_too_large"),
    ],
    ids=["malformed", "empty", "not-utf8", "text", "form", "no-type", "deep-nesting", "huge"],
)
@pytest.mark.parametrize(("name", "method", "path"), WRITE_ENDPOINTS)
def test_bad_body_is_a_json_4xx_and_writes_nothing(
    make_client: ClientFactory,
    query: Any,
    name: str,
    method: str,
    path: str,
    body: str,
    content_type: str | None,
    status: int,
    code: str,
) -> None:
    before = table_counts(query)
    client = make_client(name)
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.open(path, method=method, data=body.encode("latin-1"), headers=headers)
    assert_error(response, status, code)
    assert table_counts(query) == before


def test_unknown_path_is_a_json_404(service: tuple[str, FlaskClient]) -> None:
    _, client = service
    assert_error(client.get("/api/v1/nothing-here"), 404, "not_found")
    assert_error(client.post("/", json={}), 404, "not_found")


def test_wrong_method_is_a_json_405_with_allow(service: tuple[str, FlaskClient]) -> None:
    name, client = service
    response = client.delete(f"/api/v1/{name}")
    assert_error(response, 405, "method_not_allowed")
    assert {"GET", "POST"} <= {method.strip() for method in response.headers["Allow"].split(",")}
    assert_error(client.put(f"/api/v1/{name}/1", json={}), 405, "method_not_allowed")


def test_request_id_is_echoed_or_generated(service: tuple[str, FlaskClient]) -> None:
    _, client = service
    echoed = client.get("/health/live", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["X-Request-ID"] == "abc-123"
    generated = client.get("/health/live")
    assert len(generated.headers["X-Request-ID"]) == 32
    for hostile in ["x" * 500, "evil\u2028id", "a b"]:
        replaced = client.get("/health/live", headers={"X-Request-ID": hostile})
        assert replaced.headers["X-Request-ID"] != hostile
    error = client.get("/api/v1/none", headers={"X-Request-ID": "err-1"})
    assert error.headers["X-Request-ID"] == "err-1"


def test_health_reports_every_check(service: tuple[str, FlaskClient]) -> None:
    name, client = service
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ok",
        "service": name,
        "checks": {"database": "ok", "cache": "ok"},
    }
    assert client.get("/health/live").get_json() == {"status": "ok"}


def test_stats_have_counts_cache_and_uptime(service: tuple[str, FlaskClient]) -> None:
    name, client = service
    client.get(f"/api/v1/{name}")
    client.get(f"/api/v1/{name}")
    body = client.get("/api/v1/stats").get_json()
    assert body["service"] == name
    assert body["cache"] == {"hits": 1, "misses": 1}
    assert body["counts"][name] > 0
    assert body["uptime_seconds"] >= 0


def test_openapi_document_comes_from_the_request_models(service: tuple[str, FlaskClient]) -> None:
    name, client = service
    response = client.get(f"/api/v1/{name}/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.")
    assert f"/api/v1/{name}" in document["paths"]
    create = document["paths"][f"/api/v1/{name}"]["post"]
    schema_name = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][schema_name.rsplit("/", 1)[1]]
    assert schema["additionalProperties"] is False
    assert "422" in create["responses"]
    assert "/api/v1/stats" in document["paths"]


def test_openapi_document_gives_every_operation_the_error_shape(
    service: tuple[str, FlaskClient],
) -> None:
    # flask-openapi3 applies app-level responses only to routes on the app, not on blueprints,
    # and left `securitySchemes: null` (invalid OpenAPI) when none were given.
    name, client = service
    document = client.get(f"/api/v1/{name}/openapi.json").get_json()
    assert document["components"]["securitySchemes"] == {}
    operations = [op for path in document["paths"].values() for op in path.values()]
    assert operations
    for operation in operations:
        for status in ("400", "404", "409", "413", "415", "422", "503"):
            schema = operation["responses"][status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorResponse"}


def test_cors_allows_only_configured_origins(make_client: ClientFactory) -> None:
    client = make_client("users", cors_allowed_origins=("https://shop.example",))
    allowed = client.get("/api/v1/users", headers={"Origin": "https://shop.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    other = client.get("/api/v1/users", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    default = make_client("users").get("/api/v1/users", headers={"Origin": "https://shop.example"})
    assert "Access-Control-Allow-Origin" not in default.headers


@pytest.mark.parametrize(("hops", "client_address"), [(1, "203.0.113.9"), (0, "127.0.0.1")])
def test_proxy_fix_trusts_only_the_configured_hops(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture, hops: int, client_address: str
) -> None:
    client = make_client("users", log_level="INFO", trusted_proxy_count=hops)
    headers = {"X-Forwarded-For": "198.51.100.1, 203.0.113.9"}
    with caplog.at_level(logging.INFO, logger="servicekit.request"):
        client.get("/health/live", headers=headers, environ_base={"REMOTE_ADDR": "127.0.0.1"})
    record: Any = next(r for r in caplog.records if r.name == "servicekit.request")
    assert record.remote_addr == client_address


def test_one_log_line_per_request_with_its_id(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client("users", log_level="INFO")
    with caplog.at_level(logging.INFO, logger="servicekit.request"):
        client.get("/api/v1/users/3", headers={"X-Request-ID": "trace-7"})
    records = [record for record in caplog.records if record.name == "servicekit.request"]
    assert len(records) == 1
    record: Any = records[0]
    assert (record.request_id, record.method, record.path, record.status) == (
        "trace-7",
        "GET",
        "/api/v1/users/3",
        200,
    )
    assert record.duration_ms >= 0
    handler = next(h for h in logging.getLogger().handlers if hasattr(h, "servicekit_json_handler"))
    line = json.loads(handler.format(record))
    assert (line["request_id"], line["status"], line["level"]) == ("trace-7", 200, "INFO")


def test_unexpected_errors_are_json_without_internals(make_settings: Callable[..., Any]) -> None:
    app = create_app(make_settings("users"))

    def explode() -> str:
        raise ZeroDivisionError("secret internals")

    def throttle() -> str:
        raise TooManyRequests()

    app.add_url_rule("/explode", view_func=explode)
    app.add_url_rule("/throttle", view_func=throttle)
    client = app.test_client()
    error = assert_error(client.get("/explode"), 500, "internal_error")
    assert "secret" not in json.dumps(error)
    assert_error(client.get("/throttle"), 429, "too_many_requests")


def test_statement_timeout_is_a_503(
    make_client: ClientFactory, postgres_server: PostgresServer, database: ApplicationDatabase
) -> None:
    """A query held up past DATABASE_STATEMENT_TIMEOUT_MS is cancelled by PostgreSQL."""
    users = make_client("users", database_statement_timeout_ms=300)
    locker = postgres_server.connect(database.name)
    try:
        with locker.cursor() as cursor:
            cursor.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        started = time.perf_counter()
        assert_error(users.get("/api/v1/users/1"), 503, "database_unavailable")
        assert time.perf_counter() - started < 2
    finally:
        locker.rollback()
        locker.close()
    assert users.get("/api/v1/users/1").status_code == 200
