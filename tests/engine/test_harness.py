"""The harness itself: it refuses what it cannot realize, and what it generates is real."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import docker
import docker.errors
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pulumi.runtime import MockResourceArgs

from tests.engine.containers import ContainerFailedError, nanoseconds
from tests.engine.docker_objects import MissingImageError
from tests.engine.engine import DockerEngine
from tests.engine.engine_mocks import EngineMocks
from tests.engine.inputs import UnsupportedInputError
from tests.engine.ledger import Ledger
from tests.engine.stack import tear_down

CONTAINER = "docker:index/container:Container"


@pytest.fixture
def mocks() -> EngineMocks:
    return EngineMocks(DockerEngine("microstack", "harness-test", Ledger()))


def register(mocks: EngineMocks, resource_type: str, inputs: dict[str, Any]) -> dict[str, Any]:
    _, state = mocks.new_resource(MockResourceArgs(resource_type, "example", inputs, custom=True))
    return state


def test_an_unimplemented_container_argument_fails_naming_type_and_argument(
    mocks: EngineMocks,
) -> None:
    inputs = {"name": "x", "image": "y", "dns": ["192.0.2.1"], "networksAdvanced": []}
    with pytest.raises(UnsupportedInputError, match=rf"{CONTAINER}: argument\(s\) dns not"):
        register(mocks, CONTAINER, inputs)
    assert mocks.engine.ledger.objects("container") == []  # refused before creating anything


def test_an_unimplemented_nested_argument_is_named_with_its_path(mocks: EngineMocks) -> None:
    inputs = {"name": "x", "image": "y", "networksAdvanced": [{"name": "n", "ipv4Address": "a"}]}
    with pytest.raises(UnsupportedInputError, match=r"networksAdvanced\[0\]: argument\(s\) ipv4"):
        register(mocks, CONTAINER, inputs)


def test_a_supported_argument_with_an_unsupported_value_fails(mocks: EngineMocks) -> None:
    with pytest.raises(UnsupportedInputError, match="'privileged' = True"):
        register(mocks, CONTAINER, {"name": "x", "image": "y", "privileged": True})


def test_an_unknown_resource_type_fails(mocks: EngineMocks) -> None:
    with pytest.raises(UnsupportedInputError, match="docker:index/service:Service"):
        register(mocks, "docker:index/service:Service", {"name": "x"})


@pytest.mark.engine
def test_a_missing_remote_image_fails_naming_it_and_never_pulls(
    docker_engine: docker.DockerClient, mocks: EngineMocks
) -> None:
    absent = "example.invalid/absent:1"
    with pytest.raises(MissingImageError, match=re.escape(repr(absent))):
        register(mocks, "docker:index/remoteImage:RemoteImage", {"name": absent})


def test_random_password_honours_length_and_character_classes(mocks: EngineMocks) -> None:
    inputs = {"length": 40, "special": False, "minLower": 1, "minUpper": 1, "minNumeric": 1}
    results = {
        register(mocks, "random:index/randomPassword:RandomPassword", inputs)["result"]
        for _ in range(5)
    }
    assert len(results) == 5
    for result in results:
        assert len(result) == 40 and result.isalnum()
        assert any(c.islower() for c in result) and any(c.isupper() for c in result)
        assert any(c.isdigit() for c in result)
    assert set(mocks.secret_values) == results  # remembered for the leak checks


def test_self_signed_certificate_matches_its_key_and_names(mocks: EngineMocks) -> None:
    key_inputs = {"algorithm": "ECDSA", "ecdsaCurve": "P256"}
    key = register(mocks, "tls:index/privateKey:PrivateKey", key_inputs)
    certificate_pem = register(
        mocks,
        "tls:index/selfSignedCert:SelfSignedCert",
        {
            "privateKeyPem": key["privateKeyPem"],
            "subject": {"commonName": "microstack gateway"},
            "dnsNames": ["localhost"],
            "ipAddresses": ["127.0.0.1"],
            "validityPeriodHours": 24,
            "allowedUses": ["digital_signature", "server_auth"],
            "setSubjectKeyId": True,
        },
    )["certPem"]
    certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    private_key = serialization.load_pem_private_key(key["privateKeyPem"].encode(), None)
    assert certificate.public_key() == private_key.public_key()
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]


@pytest.mark.parametrize(
    ("duration", "expected"),
    [("5s", 5 * 10**9), ("1m30s", 90 * 10**9), ("500ms", 5 * 10**8), ("0s", 0), (None, 0)],
)
def test_durations_follow_go_syntax(duration: str | None, expected: int) -> None:
    assert nanoseconds(duration) == expected


def test_a_malformed_duration_is_refused() -> None:
    with pytest.raises(UnsupportedInputError):
        nanoseconds("5 seconds")


@pytest.fixture
def engine_mocks(docker_engine: docker.DockerClient, base_images: None) -> Iterator[EngineMocks]:
    """Mocks on the real engine under a throwaway stack name, torn down afterwards."""
    mocks = EngineMocks(DockerEngine("microstack", "harness-test", Ledger()))
    yield mocks
    mocks.close()
    assert tear_down(mocks.engine) == []


@pytest.mark.engine
def test_wait_fails_naming_the_unhealthy_container_with_its_last_log_lines(
    engine_mocks: EngineMocks,
) -> None:
    labels = engine_mocks.engine.stack_labels  # so that teardown's label sweep finds it
    inputs = {
        "name": "microstack-harness-test-sick",
        "image": "microstack-standin/debian:bookworm",
        "command": ["sh", "-c", "echo starting up; echo still no luck; exec sleep 300"],
        "healthcheck": {"tests": ["CMD", "false"], "interval": "1s", "retries": 1},
        "labels": [{"label": key, "value": value} for key, value in labels.items()],
        "stopTimeout": 1,  # sleep ignores SIGTERM: do not wait Docker's default 10 s for it
        "wait": True,
        "waitTimeout": 4,
    }
    with pytest.raises(ContainerFailedError) as failure:
        register(engine_mocks, CONTAINER, inputs)
    message = str(failure.value)
    assert "container microstack-harness-test-sick not healthy after 4s" in message
    assert "still no luck" in message


@pytest.mark.engine
def test_teardown_without_a_ledger_removes_a_child_image_before_its_parent(
    engine_mocks: EngineMocks,
) -> None:
    """A crashed run's images, found by label only: the service images go before their base."""
    client = engine_mocks.engine.client
    parent = "microstack-harness-test-parent:local"
    dockerfiles = {
        parent: "FROM microstack-standin/debian:bookworm\nLABEL role=base\n",
        "microstack-harness-test-child:local": f"FROM {parent}\nLABEL role=service\n",
    }
    for tag, dockerfile in dockerfiles.items():
        # The child inherits the stack labels from its parent, like the service images.
        labels = engine_mocks.engine.stack_labels if tag == parent else None
        client.images.build(
            fileobj=io.BytesIO(dockerfile.encode()), tag=tag, labels=labels, rm=True, forcerm=True
        )
    assert len(client.images.list(filters={"label": engine_mocks.engine.label_filters})) == 2

    assert tear_down(engine_mocks.engine) == []
    for tag in dockerfiles:
        with pytest.raises(docker.errors.ImageNotFound):
            client.images.get(tag)
