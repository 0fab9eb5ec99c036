"""The integration suite's fixtures: everything comes from one stack outputs document.

Source, in order: MICROSTACK_OUTPUTS (a file), MICROSTACK_STACK (``pulumi stack output``), else a
local devstack brought up for the session with its own command and brought down afterwards. The
tests only talk HTTP(S) to the URLs in the document, so they run unchanged against all three.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from launchers.stack import check_prerequisites
from tests.support.binaries import binaries_required
from tests.support.https import gateway_session, write_ca_file
from tests.support.outputs import devstack_outputs, outputs_from_file, outputs_from_pulumi


@pytest.fixture(scope="session")
def stack_outputs(scratch_directory: Callable[[str], Path]) -> Iterator[dict[str, Any]]:
    if path := os.environ.get("MICROSTACK_OUTPUTS"):
        yield outputs_from_file(Path(path))
    elif stack := os.environ.get("MICROSTACK_STACK"):
        yield outputs_from_pulumi(stack)
    else:
        with binaries_required():
            check_prerequisites()
        with devstack_outputs(scratch_directory("e2e-devstack") / "run") as outputs:
            yield outputs


@pytest.fixture(scope="session")
def ca_file(stack_outputs: dict[str, Any], scratch_directory: Callable[[str], Path]) -> Path:
    return write_ca_file(stack_outputs["tls_ca_certificate"], scratch_directory("e2e-ca"))


@pytest.fixture
def api(ca_file: Path) -> Iterator[requests.Session]:
    # Retries 429s: the suite shares the gateway's per-client rate limit with itself.
    with gateway_session(ca_file, retry_rate_limited=True) as session:
        yield session


@pytest.fixture(scope="session")
def gateway_url(stack_outputs: dict[str, Any]) -> str:
    return str(stack_outputs["gateway_url"]).rstrip("/")


@pytest.fixture(scope="session")
def service_urls(stack_outputs: dict[str, Any]) -> dict[str, str]:
    return {name: str(url).rstrip("/") for name, url in stack_outputs["service_urls"].items()}


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Names that never collide with earlier runs against the same (persistent) stack."""
    return lambda prefix: f"{prefix}_{secrets.token_hex(5)}"


@pytest.fixture
def new_user(
    api: requests.Session, service_urls: dict[str, str], unique: Callable[[str], str]
) -> Callable[[], dict[str, Any]]:
    def create() -> dict[str, Any]:
        username = unique("e2e")
        response = api.post(
            service_urls["users"], json={"username": username, "email": f"{username}@example.com"}
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    return create


@pytest.fixture
def new_product(
    api: requests.Session, service_urls: dict[str, str], unique: Callable[[str], str]
) -> Callable[..., dict[str, Any]]:
    def create(stock: int = 10, price: float = 2.5) -> dict[str, Any]:
        body = {"name": unique("E2E widget"), "category": "e2e", "price": price, "stock": stock}
        response = api.post(service_urls["products"], json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    return create


@pytest.fixture
def place_order(
    api: requests.Session, service_urls: dict[str, str]
) -> Callable[..., requests.Response]:
    """POST an order of ``quantity`` by ``user`` for ``product``: the response, whatever it is."""

    def place(
        user: dict[str, Any], product: dict[str, Any], quantity: int = 1, **extra: Any
    ) -> requests.Response:
        body = {"user_id": user["id"], "product_id": product["id"], "quantity": quantity, **extra}
        return api.post(service_urls["orders"], json=body)

    return place


@pytest.fixture
def new_order(place_order: Callable[..., requests.Response]) -> Callable[..., dict[str, Any]]:
    def create(user: dict[str, Any], product: dict[str, Any], quantity: int = 1) -> dict[str, Any]:
        response = place_order(user, product, quantity)
        assert response.status_code == 201, response.text
        return dict(response.json())

    return create


@pytest.fixture
def stock_of(api: requests.Session, service_urls: dict[str, str]) -> Callable[[Any], int]:
    """A product's stock as the product service reports it now (a read that may hit the cache)."""

    def read(product: dict[str, Any]) -> int:
        return int(api.get(f"{service_urls['products']}/{product['id']}").json()["stock"])

    return read
