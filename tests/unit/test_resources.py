"""What the program declares: each resource with the right image, env, networks, mounts, health."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from infra.sources import SourceTree
from stackplan.evaluate import evaluate_tree, read_stack_config
from stackplan.fakes import unwrap_secrets
from tests.support.evaluation import REPOSITORY, Evaluate, Evaluation

SERVICES = ("users", "products", "orders")
# serviceReplicas defaults to 2: each service runs as `<service>-1` and `<service>-2`.
REPLICAS = {service: (f"{service}-1", f"{service}-2") for service in SERVICES}
SERVICE_CONTAINERS = [replica for service in SERVICES for replica in REPLICAS[service]]
CONTAINERS = {"postgres", "redis", "gateway", *SERVICE_CONTAINERS}


def test_declares_exactly_the_expected_resources(default_evaluation: Evaluation) -> None:
    declared = Counter(r.type for r in default_evaluation.mocks.resources)
    assert declared == {
        "docker:index/network:Network": 2,
        "docker:index/volume:Volume": 2,
        "docker:index/remoteImage:RemoteImage": 3,
        "docker:index/image:Image": 4,
        "docker:index/container:Container": 9,
        "microstack:index:Service": 3,
        "microstack:index:Services": 1,
        "microstack:index:Networks": 1,
        "microstack:index:Credentials": 1,
        "microstack:index:DataStore": 2,
        "microstack:index:Gateway": 1,
        "random:index/randomPassword:RandomPassword": 3,
        "tls:index/privateKey:PrivateKey": 1,
        "tls:index/selfSignedCert:SelfSignedCert": 1,
    }
    assert set(default_evaluation.containers()) == CONTAINERS


def test_docker_names_are_stack_scoped_and_labelled(evaluate: Evaluate) -> None:
    evaluation = evaluate(project="microstack", stack="review-42")
    docker_objects = [
        r
        for r in evaluation.mocks.resources
        if r.type
        in {
            "docker:index/network:Network",
            "docker:index/volume:Volume",
            "docker:index/container:Container",
        }
    ]
    assert len(docker_objects) == 13
    for resource in docker_objects:
        assert resource.inputs["name"].startswith("microstack-review-42-"), resource.name
        labels = {item["label"]: item["value"] for item in resource.inputs["labels"]}
        assert labels["microstack.project"] == "microstack", resource.name
        assert labels["microstack.stack"] == "review-42", resource.name
    images = [r.inputs["imageName"] for r in evaluation.of_type("docker:index/image:Image")]
    assert sorted(images) == [
        f"microstack-review-42-{name}:local" for name in sorted({"servicekit", *SERVICES})
    ]


def test_backend_network_is_internal_and_frontend_is_not(default_evaluation: Evaluation) -> None:
    assert default_evaluation.resource("backend-network").inputs["internal"] is True
    assert default_evaluation.resource("frontend-network").inputs["internal"] is False


def networks_of(evaluation: Evaluation, container: str) -> dict[str, list[str]]:
    attached = evaluation.resource(container).inputs["networksAdvanced"]
    return {item["name"]: item.get("aliases", []) for item in attached}


def test_stores_join_only_the_backend_and_publish_nothing_by_default(
    default_evaluation: Evaluation,
) -> None:
    for store in ("postgres", "redis"):
        assert networks_of(default_evaluation, store) == {"microstack-dev-backend": [store]}
        assert not default_evaluation.resource(store).inputs.get("ports")


def test_replicas_join_both_networks_under_the_service_name_and_their_own(
    default_evaluation: Evaluation,
) -> None:
    for service in SERVICES:
        for replica in REPLICAS[service]:
            assert networks_of(default_evaluation, replica) == {
                "microstack-dev-frontend": sorted([service, replica]),
                "microstack-dev-backend": sorted([service, replica]),
            }
            assert not default_evaluation.resource(replica).inputs.get("ports")


def test_only_the_gateway_publishes_and_only_on_the_bind_address(evaluate: Evaluate) -> None:
    evaluation = evaluate({"gatewayBindAddress": "127.0.0.2", "gatewayHttpsPort": 9443})
    publishing = {n for n, c in evaluation.containers().items() if c.inputs.get("ports")}
    assert publishing == {"gateway"}
    ports = evaluation.resource("gateway").inputs["ports"]
    assert sorted((p["ip"], p["external"], p["internal"]) for p in ports) == [
        ("127.0.0.2", 8080, 8080),
        ("127.0.0.2", 9443, 8443),
    ]
    assert networks_of(evaluation, "gateway") == {"microstack-dev-frontend": ["gateway"]}


def test_published_stores_bind_the_configured_address_and_port(evaluate: Evaluate) -> None:
    evaluation = evaluate(
        {"publishPostgres": True, "postgresHostPort": 15432, "publishRedis": True}
    )
    for store, internal, external in (("postgres", 5432, 15432), ("redis", 6379, 6379)):
        (port,) = evaluation.resource(store).inputs["ports"]
        assert (port["ip"], port["internal"], port["external"]) == ("127.0.0.1", internal, external)
        # Docker publishes nothing for a container on internal networks only.
        assert networks_of(evaluation, store) == {
            "microstack-dev-backend": [store],
            "microstack-dev-published": [],
        }
    assert evaluation.resource("published-network").inputs["internal"] is False
    assert evaluation.outputs["postgres"] | evaluation.outputs["redis"] == {
        "host": "127.0.0.1",
        "port": 6379,
        "database": "microstack",
        "user": "microstack_app",
    }


def test_the_base_image_is_built_from_servicekit_alone(default_evaluation: Evaluation) -> None:
    context = SourceTree.of_repository().services / "servicekit"
    base = default_evaluation.resource("servicekit-image").inputs
    assert base["skipPush"] is True
    assert base["imageName"] == "microstack-dev-servicekit:local"
    # Its own folder as context: the provider hashes the context, and a change to one service
    # must not rebuild the base that all three are built on.
    assert Path(base["build"]["context"]).resolve() == context
    assert Path(base["build"]["dockerfile"]).resolve() == context / "Dockerfile"
    assert base["build"]["args"] == {
        "PYTHON_IMAGE": "python:3.11.11-slim-bookworm",
        "SOURCE_DIGEST": SourceTree.of_repository().source_digest("servicekit"),
    }


def test_service_images_are_built_on_the_base_from_their_own_folder(
    default_evaluation: Evaluation,
) -> None:
    services = SourceTree.of_repository().services
    base = default_evaluation.outputs["images"]["servicekit"]
    for name, folder in (("users", "user"), ("products", "product"), ("orders", "order")):
        image = default_evaluation.resource(f"{name}-image").inputs
        assert image["skipPush"] is True
        # Relative to the working directory, so a checkout elsewhere declares the same inputs.
        assert not Path(image["build"]["context"]).is_absolute()
        # The service's own folder: the provider hashes the context, so a change to another
        # service cannot show this image as changed in `pulumi preview`.
        context = services / f"{folder}-service"
        assert Path(image["build"]["context"]).resolve() == context
        assert Path(image["build"]["dockerfile"]).resolve() == context / "Dockerfile"
        # FROM the base by tag; its ID makes a rebuilt base a changed input.
        assert image["build"]["args"] == {
            "BASE_IMAGE": base["name"],
            "BASE_IMAGE_ID": base["id"],
            "SOURCE_DIGEST": SourceTree.of_repository().source_digest(f"{folder}-service"),
        }
        # Every replica runs exactly the image ID this build produced.
        for replica in REPLICAS[name]:
            container = default_evaluation.resource(replica).inputs
            assert container["image"] == default_evaluation.outputs["images"][name]["id"]


def test_services_run_unprivileged_with_the_contract_environment(
    default_evaluation: Evaluation,
) -> None:
    for name in SERVICE_CONTAINERS:
        service = default_evaluation.resource(name).inputs
        assert service["user"] == "10001:0"
        assert service["capabilities"] == {"drops": ["ALL"]}
        env = dict(entry.split("=", 1) for entry in service["envs"])
        assert service["envs"] == sorted(service["envs"])
        assert env["DATABASE_HOST"] == "postgres" and env["DATABASE_USER"] == "microstack_app"
        assert env["REDIS_HOST"] == "redis" and env["PORT"] == "8000"
        assert env["DATABASE_PASSWORD_FILE"] == "/run/secrets/database-password"
        assert env["REDIS_PASSWORD_FILE"] == "/run/secrets/redis-password"
        assert (env["GUNICORN_WORKERS"], env["GUNICORN_THREADS"]) == ("2", "4")
        assert not any(key.endswith("PASSWORD") for key in env)
        uploads = unwrap_secrets(service["uploads"])
        assert {u["file"]: u["permissions"] for u in uploads} == {
            "/run/secrets/database-password": "0440",
            "/run/secrets/redis-password": "0440",
        }


def test_every_container_waits_for_health_and_restarts(default_evaluation: Evaluation) -> None:
    expected_checks = {
        "postgres": ["CMD", "pg_isready"],
        "redis": ["CMD-SHELL"],
        "gateway": ["CMD", "bash"],
        **{name: ["CMD", "python", "-m", "servicekit.healthcheck"] for name in SERVICE_CONTAINERS},
    }
    for name, container in default_evaluation.containers().items():
        inputs = container.inputs
        assert inputs["restart"] == "unless-stopped", name
        assert inputs["wait"] is True and inputs["waitTimeout"] >= 60, name
        tests = inputs["healthcheck"]["tests"]
        assert tests[: len(expected_checks[name])] == expected_checks[name], name
        assert inputs["memory"] >= 32, name
        assert "no-new-privileges:true" in inputs["securityOpts"], name


def test_postgres_follows_the_official_image_contract(default_evaluation: Evaluation) -> None:
    postgres = default_evaluation.resource("postgres").inputs
    env = dict(entry.split("=", 1) for entry in postgres["envs"])
    assert env == {
        "POSTGRES_USER": "postgres",
        "POSTGRES_DB": "microstack",
        "POSTGRES_PASSWORD_FILE": "/run/secrets/postgres-superuser-password",
        "APP_DB_USER": "microstack_app",
        "APP_DB_PASSWORD_FILE": "/run/secrets/postgres-app-password",
    }
    uploads = {u["file"]: u for u in unwrap_secrets(postgres["uploads"])}
    init = uploads["/docker-entrypoint-initdb.d/10-init.sql"]
    assert init["content"] == (SourceTree.of_repository().root / "database/init.sql").read_text()
    assert uploads["/docker-entrypoint-initdb.d/20-create-app-role.sh"]["permissions"] == "0555"
    for secret in ("superuser", "app"):
        upload = uploads[f"/run/secrets/postgres-{secret}-password"]
        assert (upload["permissions"], upload["group"]) == ("0440", "999")
    assert postgres["volumes"] == [
        {"volumeName": "microstack-dev-postgres-data", "containerPath": "/var/lib/postgresql/data"}
    ]
    assert "--host=127.0.0.1" in postgres["healthcheck"]["tests"]


def test_redis_requires_a_password_and_keeps_an_append_only_file(
    default_evaluation: Evaluation,
) -> None:
    redis = default_evaluation.resource("redis").inputs
    (config,) = unwrap_secrets(redis["uploads"])
    assert config["file"] == "/usr/local/etc/redis/redis.conf"
    assert redis["command"] == ["redis-server", config["file"]]
    lines = config["content"].splitlines()
    assert "appendonly yes" in lines
    assert "requirepass " + default_evaluation.outputs["redis_password"] in lines
    assert redis["volumes"] == [
        {"volumeName": "microstack-dev-redis-data", "containerPath": "/data"}
    ]


def test_redis_data_fits_its_container_and_evicts_only_expiring_keys(evaluate: Evaluate) -> None:
    redis = evaluate({"redisMemoryMb": 200}).resource("redis").inputs
    (config,) = unwrap_secrets(redis["uploads"])
    lines = config["content"].splitlines()
    (limit,) = [line.split()[1] for line in lines if line.startswith("maxmemory ")]
    assert limit.endswith("mb") and 0 < int(limit[:-2]) < redis["memory"] == 200
    # The list generation counters have no TTL: evicting one would serve stale lists again.
    assert "maxmemory-policy volatile-lru" in lines


def test_every_container_stops_cleanly_before_removal(default_evaluation: Evaluation) -> None:
    # Without destroy_grace_seconds the provider removes a container with SIGKILL.
    for name, container in default_evaluation.containers().items():
        inputs = container.inputs
        assert inputs["destroyGraceSeconds"] == inputs["stopTimeout"] >= 10, name
    assert default_evaluation.resource("postgres").inputs["destroyGraceSeconds"] >= 30
    # gunicorn's graceful_timeout is 20 s.
    for name in SERVICE_CONTAINERS:
        assert default_evaluation.resource(name).inputs["destroyGraceSeconds"] > 20, name


def test_gateway_config_is_rendered_from_the_template_with_every_upstream(
    default_evaluation: Evaluation,
) -> None:
    gateway = default_evaluation.resource("gateway").inputs
    uploads = {u["file"]: u for u in unwrap_secrets(gateway["uploads"])}
    config = uploads["/etc/nginx/gateway.conf"]["content"]
    assert gateway["command"] == ["sh", "/etc/nginx/gateway-entrypoint.sh"]
    assert "GATEWAY_CONFIG=/etc/nginx/gateway.conf" in gateway["envs"]
    assert "UPSTREAM_HOSTS=orders products users" in gateway["envs"]
    assert uploads["/etc/nginx/gateway-entrypoint.sh"]["permissions"] == "0555"
    for name in SERVICES:
        assert f"server {name}:8000 max_fails=1 fail_timeout=5s;" in config
    assert "listen 0.0.0.0:8443 ssl" in config
    assert "ssl_certificate_key /etc/nginx/tls/gateway.key;" in config
    assert uploads["/etc/nginx/tls/gateway.key"]["permissions"] == "0440"
    assert (
        uploads["/etc/nginx/tls/gateway.crt"]["content"]
        == (default_evaluation.outputs["tls_ca_certificate"])
    )
    assert "health.aggregate" in config and "/etc/nginx/njs/health.js" in uploads


def test_redirects_name_the_public_https_port(evaluate: Evaluate) -> None:
    gateway = evaluate({"gatewayHttpsPort": 9443}).resource("gateway").inputs
    uploads = {u["file"]: u for u in unwrap_secrets(gateway["uploads"])}
    config = uploads["/etc/nginx/gateway.conf"]["content"]
    # Inside the container nginx listens on 8443; clients are redirected to the published port.
    assert "listen 0.0.0.0:8443 ssl" in config
    assert "return 301 https://$host:9443$request_uri;" in config


def test_replica_counts_follow_service_replicas_and_the_per_service_keys(
    evaluate: Evaluate,
) -> None:
    evaluation = evaluate({"serviceReplicas": 3, "usersReplicas": 1})
    services = {n for n in evaluation.containers() if n not in {"postgres", "redis", "gateway"}}
    assert services == {"users-1", *(f"{s}-{n}" for s in ("products", "orders") for n in (1, 2, 3))}
    # Every replica of a service runs the one image built for it.
    images = {evaluation.resource(name).inputs["image"] for name in services if "products" in name}
    assert images == {evaluation.outputs["images"]["products"]["id"]}


def test_replicas_are_replaced_one_at_a_time() -> None:
    """Replica n+1 depends on replica n: the engine registers it (so deletes and recreates it,
    delete-before-replace) only once the new replica n is healthy. The first waits for the
    stores."""
    tree = evaluate_tree(REPOSITORY, read_stack_config(REPOSITORY, "dev"), salt="order")
    containers = {r.name: r for r in tree if r.type == "docker:index/container:Container"}
    for service in SERVICES:
        first, second = (containers[replica] for replica in REPLICAS[service])
        assert {containers["postgres"].urn, containers["redis"].urn} <= set(first.dependencies)
        assert first.urn in second.dependencies
        assert second.urn not in first.dependencies


def test_gateway_rate_limit_comes_from_config_and_defaults_to_50_and_100(
    evaluate: Evaluate, default_evaluation: Evaluation
) -> None:
    def gateway_config(evaluation: Evaluation) -> str:
        uploads = unwrap_secrets(evaluation.resource("gateway").inputs["uploads"])
        return next(u["content"] for u in uploads if u["file"] == "/etc/nginx/gateway.conf")

    default = gateway_config(default_evaluation)
    assert "zone=per_client:10m rate=50r/s;" in default
    assert "limit_req zone=per_client burst=100 nodelay;" in default
    raised = gateway_config(
        evaluate({"gatewayRateLimitPerSecond": 500, "gatewayRateLimitBurst": 0})
    )
    assert "zone=per_client:10m rate=500r/s;" in raised
    assert "limit_req zone=per_client burst=0 nodelay;" in raised
