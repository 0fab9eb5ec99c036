"""The Swarm a `swarm`-target stack runs on: joined as it is, or initialised by the harness, which
then leaves it again when the stack goes (and removes only what it added: the node label, the
swarm, the `docker_gwbridge` network that `swarm init` creates).

What the harness did is recorded next to the stack's ledger (`swarm.json`), so that `down` in
another process undoes exactly that.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import docker.errors

from infra.swarm import STORES_CONSTRAINT
from tests.engine.engine import DockerEngine

# `node.labels.microstack.stores==true` → the label an operator puts on the stores' node.
STORES_LABEL, _, STORES_VALUE = STORES_CONSTRAINT.removeprefix("node.labels.").partition("==")
DEFAULT_ADVERTISE_ADDRESS = "127.0.0.1"
GATEWAY_BRIDGE = "docker_gwbridge"


@dataclass(frozen=True)
class SwarmRecord:
    """What the harness changed on the engine for a stack."""

    initialised: bool = False  # it ran `swarm init`, so teardown leaves
    labelled_node: str | None = None  # the node it gave the stores label

    @classmethod
    def load(cls, path: Path) -> SwarmRecord | None:
        if not path.exists():
            return None
        return cls(**json.loads(path.read_text()))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self)))


def targets_swarm(config: Mapping[str, Any]) -> bool:
    """Whether a stack config (keys with or without the `microstack:` prefix) asks for Swarm."""
    value = config.get("microstack:target", config.get("target", "containers"))
    return str(value).lower() == "swarm"


def swarm_state(engine: DockerEngine) -> dict[str, Any]:
    swarm: dict[str, Any] = engine.client.info().get("Swarm") or {}
    return swarm


def is_swarm_manager(engine: DockerEngine) -> bool:
    return bool(swarm_state(engine).get("ControlAvailable"))


def ensure_swarm(
    engine: DockerEngine, record_path: Path, advertise_address: str = DEFAULT_ADVERTISE_ADDRESS
) -> SwarmRecord:
    """A manager to deploy to, with one node labelled for the stores; recorded in `record_path`."""
    record = SwarmRecord.load(record_path) or SwarmRecord()
    state = swarm_state(engine)
    if state.get("LocalNodeState") != "active":
        engine.client.swarm.init(
            advertise_addr=advertise_address, listen_addr=f"{advertise_address}:2377"
        )
        record = SwarmRecord(initialised=True)
    elif not state.get("ControlAvailable"):
        raise RuntimeError(
            "this Docker engine is a Swarm worker: deploy from a manager (docker node ls there)"
        )
    if not _labelled_nodes(engine):
        node_id = str(swarm_state(engine)["NodeID"])
        _set_stores_label(engine, node_id, present=True)
        record = SwarmRecord(record.initialised, labelled_node=node_id)
    record.save(record_path)
    return record


def release_swarm(engine: DockerEngine, record_path: Path) -> None:
    """Undo what `ensure_swarm` recorded; without a record, touch nothing."""
    record = SwarmRecord.load(record_path)
    if record is None:
        return
    if record.initialised:
        with contextlib.suppress(docker.errors.APIError):
            engine.client.swarm.leave(force=True)
        _remove_gateway_bridge(engine)
    elif record.labelled_node is not None:
        with contextlib.suppress(docker.errors.NotFound):
            _set_stores_label(engine, record.labelled_node, present=False)
    record_path.unlink()


def _remove_gateway_bridge(engine: DockerEngine) -> None:
    """Remove the bridge Swarm made, even if the ingress sandbox is still attached to it.

    After a run interrupted while Swarm was starting, the sandbox (``gateway_ingress-sbox``)
    outlives ``swarm leave`` and the engine refuses to remove a network with endpoints; Docker's
    documented way out is to disconnect it by force first.
    """
    try:
        network = engine.client.networks.get(GATEWAY_BRIDGE)
    except docker.errors.NotFound:
        return
    for endpoint in (network.attrs.get("Containers") or {}).values():
        with contextlib.suppress(docker.errors.NotFound):
            engine.client.api.disconnect_container_from_network(
                endpoint["Name"], network.id, force=True
            )
    network.remove()


def _labelled_nodes(engine: DockerEngine) -> list[str]:
    nodes = engine.client.api.nodes(filters={"node.label": f"{STORES_LABEL}={STORES_VALUE}"})
    return [str(node["ID"]) for node in nodes]


def _set_stores_label(engine: DockerEngine, node_id: str, *, present: bool) -> None:
    node = engine.client.api.inspect_node(node_id)
    spec = dict(node["Spec"])
    labels = dict(spec.get("Labels") or {})
    if present:
        labels[STORES_LABEL] = STORES_VALUE
    else:
        labels.pop(STORES_LABEL, None)
    spec["Labels"] = labels
    engine.client.api.update_node(node_id, node["Version"]["Index"], spec)
