"""Secrets are generated, marked secret end to end, and never in a non-secret input or output."""

from __future__ import annotations

import json
from typing import Any

from stackplan.fakes import MOCK_SECRET_MARKER, unwrap_secrets
from tests.support.evaluation import Evaluate, Evaluation
from tests.support.pulumi_program import is_secret

USER_KEY = "-----BEGIN PRIVATE KEY-----\nuser-supplied-key-material\n-----END PRIVATE KEY-----\n"
USER_CERT = "-----BEGIN CERTIFICATE-----\nuser-supplied-certificate\n-----END CERTIFICATE-----\n"


def plaintext_leaks(value: Any, needles: tuple[str, ...], path: str = "") -> list[str]:
    """Paths under which a needle appears outside any secret-marked value."""
    if is_secret(value):
        return []
    if isinstance(value, dict):
        return [
            leak
            for key, item in value.items()
            for leak in plaintext_leaks(item, needles, f"{path}.{key}")
        ]
    if isinstance(value, list):
        return [
            leak
            for index, item in enumerate(value)
            for leak in plaintext_leaks(item, needles, f"{path}[{index}]")
        ]
    return [path] if isinstance(value, str) and any(n in value for n in needles) else []


def test_passwords_are_generated_long_and_shell_safe(default_evaluation: Evaluation) -> None:
    passwords = default_evaluation.of_type("random:index/randomPassword:RandomPassword")
    assert sorted(p.name for p in passwords) == [
        "postgres-app-password",
        "postgres-superuser-password",
        "redis-password",
    ]
    for password in passwords:
        assert password.inputs["length"] >= 32
        assert password.inputs["special"] is False


def test_only_the_password_outputs_are_secret(default_evaluation: Evaluation) -> None:
    run = default_evaluation.run
    assert run.secret_outputs == {"postgres_password", "redis_password"}
    for key in run.secret_outputs:
        assert run.outputs[key].startswith(MOCK_SECRET_MARKER)
    public = {k: v for k, v in run.outputs.items() if k not in run.secret_outputs}
    assert MOCK_SECRET_MARKER not in json.dumps(public)


def test_no_secret_appears_in_any_non_secret_input(default_evaluation: Evaluation) -> None:
    declared = default_evaluation.mocks.resources
    assert declared
    leaks = [
        f"{resource.name}{path}"
        for resource in declared
        for path in plaintext_leaks(resource.inputs, (MOCK_SECRET_MARKER,))
    ]
    assert leaks == []


def test_the_scan_would_catch_a_leak(default_evaluation: Evaluation) -> None:
    redis = default_evaluation.resource("redis").inputs
    unwrapped = unwrap_secrets(redis)
    assert plaintext_leaks(unwrapped, (MOCK_SECRET_MARKER,)) == [".uploads[0].content"]


def test_secrets_reach_containers_only_as_secret_files(default_evaluation: Evaluation) -> None:
    for name, container in default_evaluation.containers().items():
        inputs = container.inputs
        assert is_secret(inputs["uploads"]), name
        assert MOCK_SECRET_MARKER in json.dumps(unwrap_secrets(inputs["uploads"])), name
        for visible in ("envs", "command", "healthcheck", "labels"):
            assert MOCK_SECRET_MARKER not in json.dumps(inputs.get(visible)), (name, visible)


def test_user_supplied_tls_replaces_the_self_signed_pair(evaluate: Evaluate) -> None:
    evaluation = evaluate({"tlsCertificate": USER_CERT, "tlsPrivateKey": USER_KEY})
    assert not evaluation.of_type("tls:index/selfSignedCert:SelfSignedCert")
    assert not evaluation.of_type("tls:index/privateKey:PrivateKey")
    # The certificate is public (clients trust it); the key stays secret everywhere.
    assert evaluation.outputs["tls_ca_certificate"] == USER_CERT
    assert "tls_ca_certificate" not in evaluation.run.secret_outputs
    gateway = evaluation.resource("gateway").inputs
    uploads = {u["file"]: u["content"] for u in unwrap_secrets(gateway["uploads"])}
    assert uploads["/etc/nginx/tls/gateway.key"] == USER_KEY
    needles = ("user-supplied-key-material",)
    assert [p for r in evaluation.mocks.resources for p in plaintext_leaks(r.inputs, needles)] == []
    assert "user-supplied-key-material" not in evaluation.run.document()


def test_self_signed_certificate_names_every_local_address(evaluate: Evaluate) -> None:
    certificate = evaluate({"gatewayBindAddress": "0.0.0.0"}).resource("gateway-tls-certificate")
    assert certificate.inputs["ipAddresses"] == ["127.0.0.1", "::1"]
    assert certificate.inputs["dnsNames"] == ["localhost"]
    assert is_secret(certificate.inputs["privateKeyPem"])
