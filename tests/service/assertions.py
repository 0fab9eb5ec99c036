"""Checks shared by the service tests."""

from __future__ import annotations

from typing import Any

from werkzeug.test import TestResponse


def assert_error(
    response: TestResponse, status: int, code: str | None = None, field: str | None = None
) -> dict[str, Any]:
    """The one error shape, as JSON (never HTML); ``field`` must be named in the message."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code
    if field is not None:
        assert field in error["message"]
    return error


def error_fields(response: TestResponse) -> list[str]:
    """The fields a 422 names in its details."""
    return [detail["field"] for detail in response.get_json()["error"]["details"]]
