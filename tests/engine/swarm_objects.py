"""Swarm services, secrets and configs (docker:index/service:Service, .../secret:Secret,
.../serviceConfig:ServiceConfig), realized on the engine's Swarm the way the provider does it.

A Service is created (or its spec updated in place) and, with `convergeConfig`, the call blocks as
the provider's does: until every replica's task runs (healthy, when there is a healthcheck) and
the rolling update, if one started, completed. An update that Swarm rolled back is a failed
update, with Swarm's message, as `pulumi up` reports it. Secret and config data are never read
back.
"""

from __future__ import annotations

import base64
import contextlib
import time
from dataclasses import dataclass
from typing import Any, Literal

import docker.errors
from docker.types import (
    ConfigReference,
    ContainerSpec,
    EndpointSpec,
    Healthcheck,
    Mount,
    NetworkAttachmentConfig,
    Placement,
    Resources,
    RestartPolicy,
    RollbackConfig,
    SecretReference,
    ServiceMode,
    TaskTemplate,
    UpdateConfig,
)

from launchers.polling import PollTimeout, poll_until
from tests.engine.containers import nanoseconds
from tests.engine.engine import DockerEngine
from tests.engine.inputs import ResourceInputs, UnsupportedInputError, label_map
from tests.engine.ledger import CreatedObject

# The provider's defaults for `convergeConfig` (resource_docker_service.go).
DEFAULT_CONVERGE_DELAY = "7s"
DEFAULT_CONVERGE_TIMEOUT = "3m"
POLL_SECONDS = 1.0
# Update states in which Swarm has given up on the new spec and is done acting on it (moby
# api/types/swarm UpdateState): a rollback in progress is waited for, so that the old tasks serve
# again when the failure is reported.
FAILED_UPDATES = ("paused", "rollback_paused", "rollback_completed")
LOG_LINES = 20


class ServiceFailedError(RuntimeError):
    """A service did not converge, or Swarm rolled its update back; the message says why."""


def secret(engine: DockerEngine, inputs: ResourceInputs) -> tuple[str, dict[str, Any]]:
    return _swarm_file(engine, inputs, "secret")


def service_config(engine: DockerEngine, inputs: ResourceInputs) -> tuple[str, dict[str, Any]]:
    return _swarm_file(engine, inputs, "config")


def _swarm_file(
    engine: DockerEngine, inputs: ResourceInputs, kind: Literal["secret", "config"]
) -> tuple[str, dict[str, Any]]:
    """A Secret or a ServiceConfig: the same three arguments, the same Engine API shape."""
    name = inputs.require("name")
    data = base64.b64decode(inputs.require("data"))
    labels = label_map(inputs.take("labels"))
    inputs.finish()
    api = engine.client.api
    create = api.create_secret if kind == "secret" else api.create_config
    object_id = str(create(name, data, labels=labels)["ID"])
    engine.ledger.add(kind, object_id, name)
    return object_id, {"name": name}


@dataclass(frozen=True)
class Convergence:
    delay: float
    timeout: float


@dataclass(frozen=True)
class ServiceSpec:
    """The Engine API arguments of one declared service; kept in memory only (it names secrets,
    never their values)."""

    name: str
    arguments: dict[str, Any]  # APIClient.create_service keyword arguments
    replicas: int
    convergence: Convergence | None


def parse_service(inputs: ResourceInputs) -> ServiceSpec:
    name = inputs.require("name")
    mode = inputs.block("mode")
    replicas = _replicas(mode)
    task = inputs.require("taskSpec")
    arguments = {
        "name": name,
        "labels": label_map(inputs.take("labels")),
        "mode": ServiceMode("replicated", replicas=replicas),
        "task_template": _task_template(ResourceInputs(f"{inputs.where}.taskSpec", task)),
        "endpoint_spec": _endpoint_spec(inputs.block("endpointSpec")),
        "update_config": _update_config(inputs.block("updateConfig"), UpdateConfig),
        "rollback_config": _update_config(inputs.block("rollbackConfig"), RollbackConfig),
    }
    converge = inputs.block("convergeConfig")
    convergence = None
    if converge is not None:
        convergence = Convergence(
            delay=nanoseconds(converge.take("delay", DEFAULT_CONVERGE_DELAY)) / 1e9,
            timeout=nanoseconds(converge.take("timeout", DEFAULT_CONVERGE_TIMEOUT)) / 1e9,
        )
        converge.finish()
    inputs.finish()
    return ServiceSpec(name, arguments, replicas, convergence)


def _replicas(mode: ResourceInputs | None) -> int:
    if mode is None:
        return 1
    mode.accept_if("global", None, False)
    replicated = mode.block("replicated")
    replicas = int(replicated.take("replicas", 1)) if replicated else 1
    if replicated:
        replicated.finish()
    mode.finish()
    return replicas


def _task_template(task: ResourceInputs) -> TaskTemplate:
    container = task.block("containerSpec")
    if container is None:
        raise UnsupportedInputError(f"{task.where}: containerSpec is required")
    resources = task.block("resources")
    restart = task.block("restartPolicy")
    placement = task.block("placement")
    template = TaskTemplate(
        container_spec=_container_spec(container),
        resources=_resources(resources) if resources else None,
        restart_policy=_restart_policy(restart) if restart else None,
        placement=_placement(placement) if placement else None,
        networks=[_attachment(block) for block in task.blocks("networksAdvanceds")] or None,
        force_update=int(task.take("forceUpdate", 0)) or None,
    )
    task.finish()
    return template


def _container_spec(spec: ResourceInputs) -> ContainerSpec:
    check = spec.block("healthcheck")
    created = ContainerSpec(
        image=spec.require("image"),
        command=spec.take("commands"),
        args=spec.take("args"),
        env=spec.take("env"),
        user=spec.take("user"),
        workdir=spec.take("dir"),
        labels=label_map(spec.take("labels")),
        mounts=[_mount(block) for block in spec.blocks("mounts")] or None,
        secrets=[_secret_reference(block) for block in spec.blocks("secrets")] or None,
        configs=[_config_reference(block) for block in spec.blocks("configs")] or None,
        stop_grace_period=nanoseconds(spec.take("stopGracePeriod")) or None,
        cap_drop=spec.take("capDrops"),
        cap_add=spec.take("capAdds"),
        read_only=spec.take("readOnly"),
        init=spec.take("init"),
        healthcheck=_healthcheck(check) if check else None,
    )
    spec.finish()
    return created


def _healthcheck(check: ResourceInputs) -> Healthcheck:
    created = Healthcheck(
        test=list(check.require("tests")),
        interval=nanoseconds(check.take("interval")),
        timeout=nanoseconds(check.take("timeout")),
        retries=int(check.take("retries", 0)),
        start_period=nanoseconds(check.take("startPeriod")),
    )
    check.finish()
    return created


def _mount(block: ResourceInputs) -> Mount:
    kind = block.require("type")
    if kind != "volume":
        raise UnsupportedInputError(f"{block.where}: mount type {kind!r} (volume only)")
    created = Mount(
        target=block.require("target"),
        source=block.take("source"),
        type=kind,
        read_only=bool(block.take("readOnly", False)),
    )
    block.finish()
    return created


def _file_reference(block: ResourceInputs) -> dict[str, Any]:
    return {
        "filename": block.require("fileName"),
        "uid": str(block.take("fileUid", "0")),
        "gid": str(block.take("fileGid", "0")),
        "mode": int(block.take("fileMode", 0o444)),
    }


def _secret_reference(block: ResourceInputs) -> SecretReference:
    reference = SecretReference(
        block.require("secretId"), block.take("secretName"), **_file_reference(block)
    )
    block.finish()
    return reference


def _config_reference(block: ResourceInputs) -> ConfigReference:
    reference = ConfigReference(
        block.require("configId"), block.take("configName"), **_file_reference(block)
    )
    block.finish()
    return reference


def _resources(block: ResourceInputs) -> Resources:
    limits = block.block("limits")
    reservation = block.block("reservation")
    created = Resources(
        mem_limit=int(limits.take("memoryBytes")) if limits else None,
        mem_reservation=int(reservation.take("memoryBytes")) if reservation else None,
    )
    for part in (limits, reservation):
        if part is not None:
            part.finish()
    block.finish()
    return created


def _restart_policy(block: ResourceInputs) -> RestartPolicy:
    created = RestartPolicy(
        condition=block.take("condition", "any"),
        delay=nanoseconds(block.take("delay")),
        max_attempts=int(block.take("maxAttempts", 0)),
        window=nanoseconds(block.take("window")),
    )
    block.finish()
    return created


def _placement(block: ResourceInputs) -> Placement:
    created = Placement(constraints=block.take("constraints"))
    block.finish()
    return created


def _attachment(block: ResourceInputs) -> NetworkAttachmentConfig:
    created = NetworkAttachmentConfig(
        target=block.require("id"), aliases=block.take("aliases") or None
    )
    block.finish()
    return created


def _endpoint_spec(block: ResourceInputs | None) -> EndpointSpec | None:
    if block is None:
        return None
    ports: dict[int, tuple[int, str, str]] = {}
    for port in block.blocks("ports"):
        published = port.take("publishedPort")
        if published is None:
            raise UnsupportedInputError(f"{port.where}: a port without publishedPort")
        ports[int(published)] = (
            int(port.require("targetPort")),
            port.take("protocol", "tcp"),
            port.take("publishMode", "ingress"),
        )
        port.finish()
    created = EndpointSpec(mode=block.take("mode", "vip"), ports=ports or None)
    block.finish()
    return created


def _update_config(block: ResourceInputs | None, kind: type[UpdateConfig]) -> UpdateConfig | None:
    if block is None:
        return None
    created = kind(
        parallelism=int(block.take("parallelism", 1)),
        delay=nanoseconds(block.take("delay")),
        failure_action=block.take("failureAction", "pause"),
        monitor=nanoseconds(block.take("monitor")) or None,
        max_failure_ratio=float(block.take("maxFailureRatio", 0)),
        order=block.take("order", "stop-first"),
    )
    block.finish()
    return created


def create_service(engine: DockerEngine, spec: ServiceSpec) -> tuple[str, dict[str, Any]]:
    created = engine.client.api.create_service(**spec.arguments)
    service_id = str(created["ID"])
    engine.ledger.add("service", service_id, spec.name)
    converge(engine, service_id, spec, since=None)
    return service_id, {"name": spec.name}


def update_service(
    engine: DockerEngine, service_id: str, spec: ServiceSpec
) -> tuple[str, dict[str, Any]]:
    """The provider's update: the whole new spec at the current version, then (with
    `convergeConfig`) the wait for the rolling update."""
    api = engine.client.api
    current = api.inspect_service(service_id)
    before = (current.get("UpdateStatus") or {}).get("StartedAt")
    api.update_service(service_id, current["Version"]["Index"], **spec.arguments)
    converge(engine, service_id, spec, since=before)
    return service_id, {"name": spec.name}


def converge(engine: DockerEngine, service_id: str, spec: ServiceSpec, since: str | None) -> None:
    """Block until every replica runs the service's current spec, or fail with Swarm's reason.

    `since` is the start of the update that preceded ours: an update status from then on says
    nothing about this one.
    """
    if spec.convergence is None:
        return
    time.sleep(spec.convergence.delay)
    try:
        poll_until(
            lambda: _progress(engine, service_id, since),
            lambda progress: progress.running == spec.replicas and progress.settled,
            timeout=spec.convergence.timeout,
            interval=POLL_SECONDS,
            message=lambda progress: _failure(
                engine,
                spec.name,
                f"not converged after {spec.convergence.timeout:.0f}s: "
                f"{progress.running}/{spec.replicas} tasks running",
            ),
        )
    except PollTimeout as error:
        raise ServiceFailedError(str(error)) from None


@dataclass(frozen=True)
class Progress:
    running: int  # tasks that should run and do (healthy, when there is a healthcheck)
    settled: bool  # no task on its way in or out, no rolling update in progress


def _progress(engine: DockerEngine, service_id: str, since: str | None) -> Progress:
    api = engine.client.api
    status = api.inspect_service(service_id).get("UpdateStatus") or {}
    state = status.get("State")
    current = status.get("StartedAt") != since
    if current and state in FAILED_UPDATES:
        name = api.inspect_service(service_id)["Spec"]["Name"]
        reason = f"update {state}: {status.get('Message', '')}"
        raise ServiceFailedError(_failure(engine, name, reason))
    tasks = api.tasks(filters={"service": service_id, "desired-state": "running"})
    running = sum(1 for task in tasks if task["Status"]["State"] == "running")
    updating = current and state not in (None, "completed")
    return Progress(running=running, settled=running == len(tasks) and not updating)


def _failure(engine: DockerEngine, name: str, reason: str) -> str:
    """Swarm's own account: each recent task's state and error, then the service's last logs."""
    api = engine.client.api
    tasks = sorted(
        api.tasks(filters={"service": name}), key=lambda task: task["CreatedAt"], reverse=True
    )
    lines = [
        f"  task {task['ID'][:12]} slot {task.get('Slot')}: {task['Status']['State']} "
        f"{task['Status'].get('Err', '')}".rstrip()
        for task in tasks[:6]
    ]
    try:
        raw = api.service_logs(name, stdout=True, stderr=True, tail=LOG_LINES)
        logs = b"".join(raw).decode(errors="replace")
    except docker.errors.APIError as error:
        logs = f"(logs unavailable: {error})"
    return f"service {name} {reason}\n" + "\n".join(lines) + f"\nlast log lines:\n{logs}"


def remove_service(engine: DockerEngine, created: CreatedObject, timeout: float = 120) -> None:
    """The provider's Delete with a stop grace period: remove the service, then wait until its
    task containers are gone (a network or volume in use cannot be removed after it)."""
    with contextlib.suppress(docker.errors.NotFound):
        engine.client.api.remove_service(created.id)
    poll_until(
        # The listing alone: inspecting each container would race with its removal.
        lambda: engine.client.api.containers(
            all=True, filters={"label": f"com.docker.swarm.service.id={created.id}"}
        ),
        lambda containers: not containers,
        timeout=timeout,
        interval=POLL_SECONDS,
        message=lambda left: f"service {created.name}: {len(left)} task containers left",
    )


def remove_services(engine: DockerEngine, services: list[CreatedObject]) -> None:
    """Ask Swarm to remove several services without waiting for their tasks to stop."""
    for created in services:
        with contextlib.suppress(docker.errors.NotFound):
            engine.client.api.remove_service(created.id)


def remove_secret(engine: DockerEngine, created: CreatedObject) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        engine.client.api.remove_secret(created.id)


def remove_config(engine: DockerEngine, created: CreatedObject) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        engine.client.api.remove_config(created.id)
