"""Property-based fuzzing of every operation of the three services, from their OpenAPI documents.

schemathesis loads each service's `/api/v1/<service>/openapi.json` in-process (WSGI) and drives
every operation with generated valid and invalid requests against the real PostgreSQL and Redis.
Every response must be: no 5xx; a documented status, content type and body schema; errors in the
one JSON error shape; invalid input refused with a 4xx; valid input accepted.

Bounded and reproducible: generation is derandomized from a fixed seed; each operation gets the
coverage phase's boundary cases plus ``EXAMPLES_PER_OPERATION`` fuzzed ones, positive and negative.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import redis
import schemathesis
from hypothesis import settings
from schemathesis import Case, CheckContext, CheckFunction, Response
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema
from servicekit.contract import SERVICES

from launchers.postgres import PostgresServer
from tests.support.database import ApplicationDatabase, reload_sample_data
from tests.support.factories import ClientFactory

EXAMPLES_PER_OPERATION = 30
SEED = 20261125  # with derandomized generation: the same cases on every run and machine
_SNAKE_CASE = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)*$")


def one_error_shape(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Every 4xx/5xx is ``{"error": {"code", "message", "details"}}`` as JSON, never HTML."""
    if response.status_code < 400:
        return None
    assert response.headers.get("content-type", [""])[0].startswith("application/json"), (
        f"{response.status_code} is not JSON"
    )
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, f"not the error shape: {body}"
    error = body["error"]
    assert isinstance(error, dict) and set(error) == {"code", "message", "details"}, error
    assert isinstance(error["code"], str) and _SNAKE_CASE.match(error["code"]), error
    assert isinstance(error["message"], str) and error["message"], error
    assert isinstance(error["details"], dict | list), error
    return True


CHECKS: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    unsupported_method,
    one_error_shape,
]


def checks_for(response: Response) -> list[CheckFunction]:
    """All of CHECKS, except positive acceptance where valid-looking data is rightly refused.

    Generated ids span the whole integer range, and only the sample data's handful exist: an
    order naming a missing user or product is a documented 422 `unknown_reference` (tests in
    test_orders.py), which no schema can tell apart from a valid reference.
    """
    if response.status_code == 422 and _error_code(response) == "unknown_reference":
        return [check for check in CHECKS if check is not positive_data_acceptance]
    return CHECKS


def _error_code(response: Response) -> str | None:
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def fuzz_config() -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "mode": "all",  # positive and negative data
                "max-examples": EXAMPLES_PER_OPERATION,
                "deterministic": True,
                # No .hypothesis/ replay between runs: a run depends on the seed alone.
                "database": "none",
            },
        }
    )


@pytest.fixture(params=sorted(SERVICES))
def api_schema(request: pytest.FixtureRequest, make_client: ClientFactory) -> OpenApiSchema:
    """The service's own published document, bound to its app for in-process calls."""
    service: str = request.param
    app = make_client(service).application
    return schemathesis.openapi.from_wsgi(
        f"/api/v1/{service}/openapi.json", app, config=fuzz_config()
    )


@pytest.fixture
def fresh_data_per_operation(
    postgres_server: PostgresServer, database: ApplicationDatabase, cache_store: redis.Redis
) -> Callable[[Case], None]:
    """Call with each case: the first case of an operation starts from the sample data again.

    Per operation, not per case: a reload costs ~10 ms and an operation has a hundred-odd cases,
    while one operation's writes (a few dozen rows at most) cannot disturb its own checks.
    """
    current: list[str] = []

    def reset_on_new_operation(case: Case) -> None:
        if current == [case.operation.label]:
            return
        reload_sample_data(postgres_server, database)
        cache_store.flushall()  # cached items and lists would still show the old rows
        current[:] = [case.operation.label]

    return reset_on_new_operation


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(deadline=None)  # a case may reload the sample data first; timing is not under test
def test_every_operation_behaves_as_documented(
    case: Case, fresh_data_per_operation: Callable[[Case], None]
) -> None:
    fresh_data_per_operation(case)
    response = case.call()
    case.validate_response(response, checks=checks_for(response))
