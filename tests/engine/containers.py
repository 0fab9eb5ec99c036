"""docker:index/container:Container, realized the way the provider does it: create, upload files,
join networks, start, then (with `wait`) block until healthy or fail with the container's logs."""

from __future__ import annotations

import base64
import io
import re
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.errors
from docker.types import Mount

from launchers.polling import PollTimeout, poll_until
from tests.engine.engine import DockerEngine
from tests.engine.inputs import ResourceInputs, UnsupportedInputError, label_map

# The provider's default for `wait_timeout`.
DEFAULT_WAIT_SECONDS = 60
LOG_LINES = 30
POLL_SECONDS = 0.5


class ContainerFailedError(RuntimeError):
    """A container stopped, or did not become healthy in time; the message carries its logs."""


@dataclass(frozen=True)
class Upload:
    path: str
    content: bytes = field(repr=False)
    mode: int
    uid: int
    gid: int


@dataclass(frozen=True)
class ContainerSpec:
    """Everything needed to (re)create one declared container; kept in memory only (secrets)."""

    name: str
    create: dict[str, Any] = field(repr=False)  # APIClient.create_container keyword arguments
    host_config: dict[str, Any] = field(repr=False)  # APIClient.create_host_config arguments
    networks: list[tuple[str, list[str]]]  # (network name, aliases), first one at create time
    uploads: list[Upload] = field(repr=False)
    start: bool
    wait: bool
    wait_timeout: float
    stop_timeout: int


def parse_container(inputs: ResourceInputs) -> ContainerSpec:
    name = inputs.require("name")
    create = {
        "image": inputs.require("image"),
        "name": name,
        "command": inputs.take("command"),
        "entrypoint": inputs.take("entrypoints"),
        "environment": inputs.take("envs"),
        "user": inputs.take("user"),
        "working_dir": inputs.take("workingDir"),
        "hostname": inputs.take("hostname"),
        "domainname": inputs.take("domainname"),
        "labels": label_map(inputs.take("labels")),
        "stop_signal": inputs.take("stopSignal"),
        "stop_timeout": whole_number(inputs.take("stopTimeout")),
        "healthcheck": healthcheck(inputs.block("healthcheck")),
    }
    bindings = port_bindings(inputs.blocks("ports"))
    if bindings:
        # Docker publishes only exposed ports, whatever the host config binds.
        create["ports"] = [tuple(key.split("/")) for key in bindings]
    networks = [network_attachment(block) for block in inputs.blocks("networksAdvanced")]
    spec = ContainerSpec(
        name=name,
        create={key: value for key, value in create.items() if value is not None},
        host_config=host_config(inputs, networks) | {"port_bindings": bindings},
        networks=networks,
        uploads=[upload(block) for block in inputs.blocks("uploads")],
        start=bool(inputs.take("start", True)),
        wait=bool(inputs.take("wait", False)),
        wait_timeout=float(inputs.take("waitTimeout", DEFAULT_WAIT_SECONDS)),
        stop_timeout=int(inputs.take("destroyGraceSeconds") or inputs.take("stopTimeout") or 10),
    )
    inputs.accept_if("mustRun", True)
    for flag in ("attach", "logs", "rm", "privileged", "publishAllPorts", "tty", "stdinOpen"):
        inputs.accept_if(flag, False)
    inputs.finish()
    return spec


def host_config(inputs: ResourceInputs, networks: list[tuple[str, list[str]]]) -> dict[str, Any]:
    capabilities = inputs.block("capabilities")
    config = {
        "restart_policy": restart_policy(inputs),
        "mounts": [mount(block) for block in inputs.blocks("mounts")] or None,
        "binds": [bind(block) for block in inputs.blocks("volumes")] or None,
        "mem_limit": megabytes(inputs.take("memory")),
        "memswap_limit": megabytes(inputs.take("memorySwap")),
        "cap_add": capabilities.take("adds") if capabilities else None,
        "cap_drop": capabilities.take("drops") if capabilities else None,
        "security_opt": inputs.take("securityOpts"),
        "init": inputs.take("init"),
        "read_only": inputs.take("readOnly"),
        "tmpfs": inputs.take("tmpfs"),
        "shm_size": megabytes(inputs.take("shmSize")),
        # Docker's API takes one network at create time; the others are joined before start.
        "network_mode": networks[0][0] if networks else inputs.take("networkMode"),
    }
    if capabilities:
        capabilities.finish()
    return {key: value for key, value in config.items() if value is not None}


def restart_policy(inputs: ResourceInputs) -> dict[str, Any] | None:
    policy = inputs.take("restart", "no")
    retries = int(inputs.take("maxRetryCount", 0))
    if policy not in {"no", "on-failure", "always", "unless-stopped"}:
        raise UnsupportedInputError(f"{inputs.where}: restart policy {policy!r}")
    return {"Name": policy, "MaximumRetryCount": retries} if policy != "no" else None


def whole_number(value: Any) -> int | None:
    # Pulumi sends every number as a float; Docker's API wants integers.
    return None if value is None else int(value)


def megabytes(value: Any) -> str | int | None:
    # The provider's memory arguments are in MB; -1 (swap) means unlimited, as in Docker.
    if value is None or int(value) < 0:
        return None if value is None else -1
    return f"{int(value)}m"


def network_attachment(block: ResourceInputs) -> tuple[str, list[str]]:
    attachment = (block.require("name"), sorted(block.take("aliases") or []))
    block.finish()
    return attachment


def port_bindings(blocks: list[ResourceInputs]) -> dict[str, list[tuple[str, int | None]]] | None:
    bindings: dict[str, list[tuple[str, int | None]]] = {}
    for block in blocks:
        key = f"{int(block.require('internal'))}/{block.take('protocol', 'tcp')}"
        external = block.take("external")
        address = block.take("ip", "0.0.0.0")
        block.finish()
        bindings.setdefault(key, []).append((address, None if external is None else int(external)))
    return bindings or None


def mount(block: ResourceInputs) -> Mount:
    kind = block.take("type", "volume")
    tmpfs = block.block("tmpfsOptions")
    created = Mount(
        target=block.require("target"),
        source=block.take("source"),
        type=kind,
        read_only=bool(block.take("readOnly", False)),
        tmpfs_size=tmpfs.take("sizeBytes") if tmpfs else None,
        tmpfs_mode=tmpfs.take("mode") if tmpfs else None,
    )
    if tmpfs:
        tmpfs.finish()
    block.finish()
    return created


def bind(block: ResourceInputs) -> str:
    source = block.take("volumeName") or block.take("hostPath")
    target = block.require("containerPath")
    read_only = bool(block.take("readOnly", False))
    block.finish()
    if source is None:
        raise UnsupportedInputError(f"{block.where}: anonymous volumes")
    return f"{source}:{target}:{'ro' if read_only else 'rw'}"


DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
NANOSECONDS = {"ns": 1, "us": 10**3, "µs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9}
NANOSECONDS["h"] = 60 * NANOSECONDS["m"]


def nanoseconds(duration: str | None) -> int:
    """Go's duration syntax (`5s`, `1m30s`, `500ms`), as the provider accepts it."""
    if not duration:
        return 0
    parts = DURATION.findall(duration)
    if "".join(number + unit for number, unit in parts) != duration:
        raise UnsupportedInputError(f"healthcheck: duration {duration!r}")
    return int(sum(float(number) * NANOSECONDS[unit] for number, unit in parts))


def healthcheck(block: ResourceInputs | None) -> dict[str, Any] | None:
    if block is None:
        return None
    check = {
        "Test": list(block.require("tests")),
        "Interval": nanoseconds(block.take("interval")),
        "Timeout": nanoseconds(block.take("timeout")),
        "Retries": int(block.take("retries", 0)),
        "StartPeriod": nanoseconds(block.take("startPeriod")),
    }
    # Docker 20.10 (API 1.41) has no start interval; accepting it would silently drop it.
    block.accept_if("startInterval", "0s")
    block.finish()
    return check


def upload(block: ResourceInputs) -> Upload:
    path = block.require("file")
    content = upload_content(block)
    executable = bool(block.take("executable", False))
    permissions = block.take("permissions")
    mode = int(permissions, 8) if permissions else (0o744 if executable else 0o644)
    upload_ = Upload(path, content, mode, numeric_id(block, "owner"), numeric_id(block, "group"))
    block.finish()
    return upload_


def upload_content(block: ResourceInputs) -> bytes:
    content = block.take("content")
    encoded = block.take("contentBase64")
    source = block.take("source")
    block.take("sourceHash")  # only decides when the real provider replaces the container
    if sum(value is not None for value in (content, encoded, source)) != 1:
        raise UnsupportedInputError(f"{block.where}: exactly one of content/contentBase64/source")
    if content is not None:
        return str(content).encode()
    if encoded is not None:
        return base64.b64decode(encoded)
    return Path(source).read_bytes()


def numeric_id(block: ResourceInputs, key: str) -> int:
    value = block.take(key, "0")
    if not str(value).isdigit():
        raise UnsupportedInputError(f"{block.where}: {key} {value!r} (numeric ids only)")
    return int(value)


def upload_archive(uploads: list[Upload]) -> bytes:
    """One tar, extracted at `/`, as the provider does: parent directories are created."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for item in uploads:
            info = tarfile.TarInfo(item.path.lstrip("/"))
            info.size, info.mode = len(item.content), item.mode
            info.uid, info.gid = item.uid, item.gid
            info.mtime = int(time.time())
            archive.addfile(info, io.BytesIO(item.content))
    return buffer.getvalue()


def create_container(engine: DockerEngine, spec: ContainerSpec) -> str:
    api = engine.client.api
    networking = None
    if spec.networks:
        first, aliases = spec.networks[0]
        networking = api.create_networking_config(
            {first: api.create_endpoint_config(aliases=aliases or None)}
        )
    created = api.create_container(
        **spec.create,
        host_config=api.create_host_config(**spec.host_config),
        networking_config=networking,
    )
    container_id = str(created["Id"])
    engine.ledger.add("container", container_id, spec.name)
    if spec.uploads:
        api.put_archive(container_id, "/", upload_archive(spec.uploads))
    for network_name, aliases in spec.networks[1:]:
        api.connect_container_to_network(container_id, network_name, aliases=aliases or None)
    if spec.start:
        api.start(container_id)
    return container_id


def realize(engine: DockerEngine, spec: ContainerSpec) -> tuple[str, dict[str, Any]]:
    container_id = create_container(engine, spec)
    if spec.wait:
        wait_until_healthy(engine, container_id, spec.wait_timeout)
    elif spec.start:
        ensure_running(engine, container_id)
    return container_id, container_outputs(engine, container_id)


def update_resources(engine: DockerEngine, container_id: str, spec: ContainerSpec) -> None:
    """An in-place update of the running container (`docker update`), as the provider's
    resourceDockerContainerUpdate applies memory, swap, CPU shares and set, and the restart policy.

    Docker refuses a memory limit above the swap limit already set, and a container created with
    a memory limit alone got twice that as its swap limit: an undeclared swap limit is set to twice
    the new memory, so the updated container is limited exactly as a newly created one would be.
    """
    memory = spec.host_config.get("mem_limit")
    swap = spec.host_config.get("memswap_limit")
    if memory is not None and swap is None:
        swap = f"{2 * int(str(memory).removesuffix('m'))}m"
    engine.client.api.update_container(
        container_id,
        mem_limit=memory,
        memswap_limit=swap,
        restart_policy=spec.host_config.get("restart_policy") or {"Name": "no"},
    )


def container_outputs(engine: DockerEngine, container_id: str) -> dict[str, Any]:
    attrs = engine.client.api.inspect_container(container_id)
    networks = attrs["NetworkSettings"]["Networks"] or {}
    return {
        "name": attrs["Name"].lstrip("/"),
        "networkDatas": [
            {
                "networkName": name,
                "ipAddress": data.get("IPAddress", ""),
                "ipPrefixLength": data.get("IPPrefixLen", 0),
                "gateway": data.get("Gateway", ""),
                "macAddress": data.get("MacAddress", ""),
            }
            for name, data in sorted(networks.items())
        ],
        "bridge": "",
        "exitCode": None,
    }


def ensure_running(engine: DockerEngine, container_id: str) -> None:
    """`must_run`: a container that exits straight away is a failed create."""
    time.sleep(1)
    state = engine.client.api.inspect_container(container_id)["State"]
    if not state["Running"]:
        raise ContainerFailedError(failure(engine, container_id, f"exited ({state['ExitCode']})"))


def wait_until_healthy(engine: DockerEngine, container_id: str, timeout: float) -> None:
    def health() -> str:
        state = engine.client.api.inspect_container(container_id)["State"]
        status = (state.get("Health") or {}).get("Status")
        if status is None:
            raise ContainerFailedError(failure(engine, container_id, "waits without a healthcheck"))
        if status != "healthy" and not state["Running"] and not state["Restarting"]:
            reason = f"stopped (exit code {state['ExitCode']}) before it was healthy"
            raise ContainerFailedError(failure(engine, container_id, reason))
        return str(status)

    try:
        poll_until(
            health,
            lambda status: status == "healthy",
            timeout=timeout,
            interval=POLL_SECONDS,
            message=lambda status: failure(
                engine, container_id, f"not healthy after {timeout:.0f}s (health: {status})"
            ),
        )
    except PollTimeout as error:
        raise ContainerFailedError(str(error)) from None


def failure(engine: DockerEngine, container_id: str, reason: str) -> str:
    attrs = engine.client.api.inspect_container(container_id)
    name = attrs["Name"].lstrip("/")
    probes = (attrs["State"].get("Health") or {}).get("Log") or []
    last_probe = probes[-1]["Output"].strip() if probes else "none"
    try:
        logs = engine.client.api.logs(container_id, tail=LOG_LINES).decode(errors="replace")
    except docker.errors.APIError as error:
        logs = f"(logs unavailable: {error})"
    return (
        f"container {name} {reason}\nlast health probe: {last_probe}\n"
        f"last {LOG_LINES} log lines:\n{logs}"
    )
