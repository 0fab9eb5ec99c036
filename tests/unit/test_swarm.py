"""The swarm target under mocks: the same tiers declare Swarm services, configs, secrets and overlay
networks, with the containers target's environment, files and health, and the same outputs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.services import DATABASE_PASSWORD_FILE, REDIS_PASSWORD_FILE
from stackplan.evaluate import read_stack_config
from stackplan.fakes import MOCK_SECRET_MARKER, unwrap_secrets
from tests.support.evaluation import REPOSITORY, Evaluate, Evaluation, evaluate_program
from tests.support.pulumi_program import is_secret
from tests.unit.test_outputs import CONTRACT_KEYS
from tests.unit.test_provider_schema import args_class_of, provider_resources, unknown_keys
from tests.unit.test_secrets import plaintext_leaks

SERVICE = "docker:index/service:Service"
SECRET = "docker:index/secret:Secret"
CONFIG = "docker:index/serviceConfig:ServiceConfig"
SWARM = {"target": "swarm", "gatewayBindAddress": "0.0.0.0", "swarmEndpointMode": "dnsrr"}
APPLICATIONS = ("users", "products", "orders")


@pytest.fixture(scope="module")
def swarm() -> Evaluation:
    return evaluate_program(SWARM, stack="swarm")


def plain(evaluation: Evaluation, name: str) -> dict[str, Any]:
    result: dict[str, Any] = unwrap_secrets(evaluation.resource(name).inputs)
    return result


def container_spec(evaluation: Evaluation, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = plain(evaluation, name)["taskSpec"]["containerSpec"]
    return spec


def test_every_workload_is_a_swarm_service_and_nothing_is_a_container(swarm: Evaluation) -> None:
    assert swarm.containers() == {}
    services = {r.name: r.inputs["name"] for r in swarm.of_type(SERVICE)}
    assert services == {
        name: f"microstack-swarm-{name}" for name in ("postgres", "redis", *APPLICATIONS, "gateway")
    }
    networks = {r.name: plain(swarm, r.name) for r in swarm.of_type("docker:index/network:Network")}
    assert {name: (n["driver"], n["internal"]) for name, n in networks.items()} == {
        "frontend-network": ("overlay", False),
        "backend-network": ("overlay", True),
    }


def test_the_containers_target_declares_no_swarm_resource(
    default_evaluation: Evaluation,
) -> None:
    for kind in (SERVICE, SECRET, CONFIG):
        assert default_evaluation.of_type(kind) == []


def test_services_roll_one_task_at_a_time_start_first_and_roll_back(swarm: Evaluation) -> None:
    for name in APPLICATIONS:
        inputs = plain(swarm, name)
        assert inputs["mode"] == {"replicated": {"replicas": 2}}
        update = inputs["updateConfig"]
        assert (update["parallelism"], update["order"], update["failureAction"]) == (
            1,
            "start-first",
            "rollback",
        )
        assert update["monitor"] and inputs["rollbackConfig"]["parallelism"] == 1
        # Without converge_config `pulumi up` would not wait for the tasks.
        assert inputs["convergeConfig"]["timeout"]
        task = inputs["taskSpec"]
        assert task["restartPolicy"]["condition"] == "any"
        assert task["resources"]["limits"]["memoryBytes"] == 256 * 1024 * 1024
        assert 0 < task["resources"]["reservation"]["memoryBytes"] < 256 * 1024 * 1024
        assert inputs["endpointSpec"]["mode"] == "dnsrr"


def test_service_tasks_run_the_containers_targets_process(
    swarm: Evaluation, default_evaluation: Evaluation
) -> None:
    for name in APPLICATIONS:
        spec = container_spec(swarm, name)
        replica = unwrap_secrets(default_evaluation.resource(f"{name}-1").inputs)
        assert [f"{key}={value}" for key, value in sorted(spec["env"].items())] == replica["envs"]
        assert spec["healthcheck"]["tests"] == replica["healthcheck"]["tests"]
        assert (spec["user"], spec["capDrops"]) == ("10001:0", ["ALL"])
        assert spec["image"] == f"microstack-swarm-{name}:local"
        # A rebuilt image keeps its tag: its ID in a label makes the spec change and the tasks roll.
        labels = {label["label"]: label["value"] for label in spec["labels"]}
        assert labels["microstack.image-id"].startswith("sha256:")
        networks = plain(swarm, name)["taskSpec"]["networksAdvanceds"]
        assert [network["aliases"] for network in networks] == [[name], [name]]


def test_passwords_are_swarm_secrets_mounted_at_the_file_paths_the_services_read(
    swarm: Evaluation,
) -> None:
    for name in APPLICATIONS:
        spec = container_spec(swarm, name)
        mounted = {secret["fileName"]: secret for secret in spec["secrets"]}
        assert set(mounted) == {DATABASE_PASSWORD_FILE, REDIS_PASSWORD_FILE}
        assert spec["env"]["DATABASE_PASSWORD_FILE"] == DATABASE_PASSWORD_FILE
        assert {secret["fileMode"] for secret in mounted.values()} == {0o440}
    for secret in swarm.of_type(SECRET):
        assert is_secret(secret.inputs["data"]), secret.name
    redis = {s["fileName"] for s in container_spec(swarm, "redis")["secrets"]}
    assert redis == {"/usr/local/etc/redis/redis.conf"}
    gateway = container_spec(swarm, "gateway")
    assert {s["fileName"] for s in gateway["secrets"]} == {"/etc/nginx/tls/gateway.key"}
    assert {c["fileName"] for c in gateway["configs"]} >= {
        "/etc/nginx/gateway.conf",
        "/etc/nginx/njs/health.js",
    }


def test_no_secret_value_is_in_any_non_secret_input_or_output(swarm: Evaluation) -> None:
    leaks = [
        f"{resource.name}{path}"
        for resource in swarm.mocks.resources
        for path in plaintext_leaks(resource.inputs, (MOCK_SECRET_MARKER,))
    ]
    assert leaks == []
    public = {k: v for k, v in swarm.outputs.items() if k not in swarm.run.secret_outputs}
    assert MOCK_SECRET_MARKER not in json.dumps(public)
    for service in swarm.of_type(SERVICE):
        assert MOCK_SECRET_MARKER not in json.dumps(unwrap_secrets(service.inputs)), service.name


def test_configs_and_secrets_are_named_by_content(evaluate: Evaluate) -> None:
    def names(config: dict[str, Any]) -> dict[str, str]:
        evaluation = evaluate(SWARM | config, stack="swarm")
        return {
            r.name: unwrap_secrets(r.inputs)["name"]
            for r in evaluation.of_type(SECRET) + evaluation.of_type(CONFIG)
        }

    before, again, after = names({}), names({}), names({"redisMemoryMb": 256})
    assert before == again
    # Swarm cannot change a config or secret: new content is a new name the service rolls onto.
    assert {name for name in before if before[name] != after[name]} == {"redis-redis.conf"}
    assert all(name.startswith("microstack-swarm-") for name in before.values())
    assert len(set(before.values())) == len(before)
    assert max(len(name) for name in before.values()) <= 64


def test_stores_run_once_on_the_labelled_node_and_stop_before_they_start(
    swarm: Evaluation,
) -> None:
    for name, path in (("postgres", "/var/lib/postgresql/data"), ("redis", "/data")):
        inputs = plain(swarm, name)
        assert inputs["mode"] == {"replicated": {"replicas": 1}}
        assert inputs["updateConfig"]["order"] == "stop-first"
        assert inputs["taskSpec"]["placement"]["constraints"] == [
            "node.labels.microstack.stores==true"
        ]
        mounts = inputs["taskSpec"]["containerSpec"]["mounts"]
        assert mounts == [
            {"type": "volume", "source": f"microstack-swarm-{name}-data", "target": path}
        ]


def test_the_gateway_publishes_in_host_mode_on_the_configured_ports(evaluate: Evaluate) -> None:
    evaluation = evaluate(SWARM | {"gatewayHttpsPort": 9443, "gatewayHttpPort": 9080})
    inputs = plain(evaluation, "gateway")
    assert sorted(
        (p["targetPort"], p["publishedPort"], p["publishMode"])
        for p in inputs["endpointSpec"]["ports"]
    ) == [(8080, 9080, "host"), (8443, 9443, "host")]
    assert inputs["updateConfig"]["order"] == "stop-first"
    assert inputs["taskSpec"]["containerSpec"]["args"] == ["sh", "/etc/nginx/gateway-entrypoint.sh"]
    assert evaluation.outputs["gateway_url"] == "https://127.0.0.1:9443"


def test_endpoint_mode_defaults_to_vip(evaluate: Evaluate) -> None:
    evaluation = evaluate({"target": "swarm", "gatewayBindAddress": "0.0.0.0"})
    assert {
        plain(evaluation, r.name)["endpointSpec"]["mode"] for r in evaluation.of_type(SERVICE)
    } == {"vip"}


def test_with_a_registry_service_images_are_pushed_and_run_by_digest(evaluate: Evaluate) -> None:
    evaluation = evaluate(SWARM | {"imageRegistry": "registry.local:5000/team"})
    for name in APPLICATIONS:
        image = evaluation.resource(f"{name}-image").inputs
        assert image["imageName"].startswith(f"registry.local:5000/team/microstack-dev-{name}:")
        assert image["skipPush"] is False
        assert container_spec(evaluation, name)["image"].startswith("sha256:")
    # The base image is only built FROM: it stays on the engine.
    assert evaluation.resource("servicekit-image").inputs["skipPush"] is True


def test_outputs_have_the_contract_shape_with_task_slots(swarm: Evaluation) -> None:
    assert set(swarm.outputs) == CONTRACT_KEYS
    assert swarm.outputs["service_containers"] == {
        name: [f"microstack-swarm-{name}.1", f"microstack-swarm-{name}.2"]
        for name in sorted(APPLICATIONS)
    }
    assert swarm.outputs["networks"] == {
        "frontend": "microstack-swarm-frontend",
        "backend": "microstack-swarm-backend",
    }


def test_two_swarm_stacks_declare_disjoint_names(evaluate: Evaluate) -> None:
    def names(stack: str) -> set[str]:
        evaluation = evaluate(SWARM, stack=stack)
        return {
            unwrap_secrets(r.inputs)["name"]
            for r in evaluation.mocks.resources
            if r.custom and "name" in r.inputs and not r.type.endswith("remoteImage:RemoteImage")
        }

    first, second = names("blue"), names("green")
    assert first and not first & second


@pytest.mark.parametrize("published", [False, True], ids=["default", "stores-published"])
def test_every_swarm_input_is_known_to_its_provider(evaluate: Evaluate, published: bool) -> None:
    evaluation = evaluate(SWARM | {"publishPostgres": published, "publishRedis": published})
    problems = []
    for resource in provider_resources(evaluation):
        module, args_class = args_class_of(resource.type)
        problems.extend(
            unknown_keys(unwrap_secrets(resource.inputs), args_class, module, resource.name)
        )
    assert problems == []


def test_the_example_swarm_stack_file_evaluates() -> None:
    config = read_stack_config(REPOSITORY, "swarm")
    evaluation = evaluate_program(config.values, stack=config.stack)
    assert {r.name for r in evaluation.of_type(SERVICE)} >= set(APPLICATIONS)
