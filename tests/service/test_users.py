"""user-service endpoints against real PostgreSQL and Redis."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.service.assertions import assert_error, error_fields


def count_users(query: Any) -> int:
    return query("SELECT count(*) AS n FROM users")[0]["n"]


def test_list_returns_the_sample_users_with_pagination_fields(users: FlaskClient) -> None:
    body = users.get("/api/v1/users").get_json()
    assert [user["username"] for user in body["items"]] == ["alice", "bob", "carol", "dave"]
    assert (body["limit"], body["offset"], body["total"]) == (20, 0, 4)
    assert set(body["items"][0]) == {"id", "username", "email", "created_at"}


def test_list_pages_with_limit_and_offset(users: FlaskClient) -> None:
    body = users.get("/api/v1/users?limit=2&offset=1").get_json()
    assert [user["id"] for user in body["items"]] == [2, 3]
    assert (body["limit"], body["offset"], body["total"]) == (2, 1, 4)


@pytest.mark.parametrize(
    ("query_string", "field"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
        ("page=2", "page"),
    ],
)
def test_bad_pagination_is_422_naming_the_parameter(
    users: FlaskClient, query_string: str, field: str
) -> None:
    response = users.get(f"/api/v1/users?{query_string}")
    assert_error(response, 422, "validation_error", field)
    assert error_fields(response) == [field]


def test_get_returns_one_user(users: FlaskClient) -> None:
    response = users.get("/api/v1/users/2")
    assert response.status_code == 200
    assert response.get_json()["email"] == "bob@example.com"


def test_missing_user_is_404(users: FlaskClient) -> None:
    assert_error(users.get("/api/v1/users/999"), 404, "not_found")


@pytest.mark.parametrize("user_id", ["abc", "1.5", "0", "-1", "99999999999", "1e3"])
def test_non_integer_or_out_of_range_id_is_422_naming_user_id(
    users: FlaskClient, user_id: str
) -> None:
    assert_error(users.get(f"/api/v1/users/{user_id}"), 422, "validation_error", "user_id")


def test_create_stores_the_user_and_points_to_it(users: FlaskClient, query: Any) -> None:
    response = users.post("/api/v1/users", json={"username": "erin", "email": "Erin@Example.org"})
    assert response.status_code == 201
    created = response.get_json()
    assert created["email"] == "erin@example.org"
    assert response.headers["Location"] == f"/api/v1/users/{created['id']}"
    assert created["id"] == 5  # the sequence continues after the sample rows
    rows = query("SELECT username, email FROM users WHERE id = %s", (created["id"],))
    assert rows == [{"username": "erin", "email": "erin@example.org"}]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"username": "ALICE", "email": "new@example.com"}, "username"),
        ({"username": "newname", "email": "Alice@Example.com"}, "email"),
    ],
)
def test_duplicate_is_409_naming_the_field_and_writes_nothing(
    users: FlaskClient, query: Any, payload: dict[str, str], field: str
) -> None:
    error = assert_error(users.post("/api/v1/users", json=payload), 409, "duplicate_user", field)
    assert error["details"] == {"field": field}
    assert count_users(query) == 4


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"email": "x@example.com"}, ["username"]),
        ({"username": "frank"}, ["email"]),
        ({}, ["username", "email"]),
        ({"username": "frank", "email": "f@example.com", "role": "admin"}, ["role"]),
        ({"username": 42, "email": "f@example.com"}, ["username"]),
        ({"username": ["frank"], "email": "f@example.com"}, ["username"]),
        ({"username": "fr", "email": "f@example.com"}, ["username"]),
        ({"username": "f" * 51, "email": "f@example.com"}, ["username"]),
        ({"username": "frank smith", "email": "f@example.com"}, ["username"]),
        ({"username": "frank\u0000", "email": "f@example.com"}, ["username"]),
        ({"username": "frank", "email": "not-an-email"}, ["email"]),
        ({"username": "frank", "email": "f\u0000@example.com"}, ["email"]),
        ({"username": "frank", "email": "f@" + "e" * 250 + ".com"}, ["email"]),
        ({"username": "frank", "email": None}, ["email"]),
    ],
)
def test_invalid_body_is_422_naming_each_field_and_writes_nothing(
    users: FlaskClient, query: Any, payload: dict[str, Any], fields: list[str]
) -> None:
    response = users.post("/api/v1/users", json=payload)
    assert_error(response, 422, "validation_error", fields[0])
    assert error_fields(response) == fields
    assert count_users(query) == 4


@pytest.mark.parametrize("body", ["[]", '"text"', "null", "42"])
def test_body_that_is_not_an_object_is_422(users: FlaskClient, body: str) -> None:
    response = users.post("/api/v1/users", data=body, content_type="application/json")
    assert_error(response, 422, "validation_error", "body")


def test_stats_count_users(users: FlaskClient) -> None:
    users.post("/api/v1/users", json={"username": "erin", "email": "erin@example.org"})
    body = users.get("/api/v1/stats").get_json()
    assert body["service"] == "users"
    assert body["counts"] == {"users": 5}
    assert body["uptime_seconds"] >= 0
    assert set(body["cache"]) == {"hits", "misses"}
