"""The stack outputs document has exactly the shape the integration suite reads."""

from __future__ import annotations

import json

from tests.support.evaluation import Evaluate, Evaluation

CONTRACT_KEYS = {
    "project",
    "stack",
    "gateway_url",
    "gateway_http_url",
    "health_url",
    "service_urls",
    "tls_ca_certificate",
    "postgres",
    "postgres_password",
    "redis",
    "redis_password",
    "images",
    "service_containers",
    "networks",
    "volumes",
}


def test_outputs_document_has_exactly_the_contract_keys(default_evaluation: Evaluation) -> None:
    outputs = default_evaluation.outputs
    assert set(outputs) == CONTRACT_KEYS
    assert json.loads(default_evaluation.run.document()) == outputs


def test_urls_point_at_the_gateway(default_evaluation: Evaluation) -> None:
    outputs = default_evaluation.outputs
    assert (outputs["project"], outputs["stack"]) == ("microstack", "dev")
    assert outputs["gateway_url"] == "https://127.0.0.1:8443"
    assert outputs["gateway_http_url"] == "http://127.0.0.1:8080"
    assert outputs["health_url"] == "https://127.0.0.1:8443/api/health"
    assert outputs["service_urls"] == {
        name: f"https://127.0.0.1:8443/api/v1/{name}" for name in ("users", "products", "orders")
    }


def test_connection_details_are_null_unless_published(default_evaluation: Evaluation) -> None:
    outputs = default_evaluation.outputs
    assert outputs["postgres"] == {
        "host": None,
        "port": None,
        "database": "microstack",
        "user": "microstack_app",
    }
    assert outputs["redis"] == {"host": None, "port": None}
    assert isinstance(outputs["postgres_password"], str) and outputs["postgres_password"]


def test_postgres_password_is_the_application_role_password(
    default_evaluation: Evaluation,
) -> None:
    from stackplan.fakes import unwrap_secrets

    uploads = unwrap_secrets(default_evaluation.resource("users-1").inputs["uploads"])
    files = {u["file"]: u["content"] for u in uploads}
    assert (
        files["/run/secrets/database-password"] == default_evaluation.outputs["postgres_password"]
    )
    assert files["/run/secrets/redis-password"] == default_evaluation.outputs["redis_password"]


def test_images_networks_and_volumes_name_the_declared_objects(
    default_evaluation: Evaluation,
) -> None:
    outputs = default_evaluation.outputs
    # The three services' images and the servicekit base they are built on.
    assert set(outputs["images"]) == {"servicekit", "users", "products", "orders"}
    for name, image in outputs["images"].items():
        assert image["name"] == default_evaluation.resource(f"{name}-image").inputs["imageName"]
        assert image["id"].startswith("sha256:")
    assert len({image["id"] for image in outputs["images"].values()}) == 4
    assert outputs["networks"] == {
        "frontend": default_evaluation.resource("frontend-network").inputs["name"],
        "backend": default_evaluation.resource("backend-network").inputs["name"],
    }
    assert outputs["volumes"] == {
        "postgres": "microstack-dev-postgres-data",
        "redis": "microstack-dev-redis-data",
    }


def test_tls_ca_certificate_is_the_certificate_the_gateway_presents(
    default_evaluation: Evaluation,
) -> None:
    certificate = default_evaluation.outputs["tls_ca_certificate"]
    assert certificate.startswith("-----BEGIN CERTIFICATE-----")
    assert (
        certificate
        == default_evaluation.mocks.outputs_for(
            "tls:index/selfSignedCert:SelfSignedCert", "gateway-tls-certificate", {}
        )["certPem"]
    )


def test_published_outputs_use_a_dialable_host(evaluate: Evaluate) -> None:
    outputs = evaluate({"gatewayBindAddress": "0.0.0.0", "publishRedis": True}).outputs
    assert outputs["redis"] == {"host": "127.0.0.1", "port": 6379}


def test_service_containers_list_every_replica_stack_scoped(evaluate: Evaluate) -> None:
    outputs = evaluate({"serviceReplicas": 3, "ordersReplicas": 1}, stack="qa").outputs
    assert outputs["service_containers"] == {
        "orders": ["microstack-qa-orders-1"],
        "products": [f"microstack-qa-products-{n}" for n in (1, 2, 3)],
        "users": [f"microstack-qa-users-{n}" for n in (1, 2, 3)],
    }
