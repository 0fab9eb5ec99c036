"""Teardown removes everything labelled with the stack, and the Swarm harness undoes what it did to
the Swarm. Runs last (see conftest): it removes the session's stacks."""

from __future__ import annotations

import docker.errors
import pytest

from tests.engine.build_base_images import STAND_INS
from tests.engine.stack import EngineStack
from tests.engine.swarm import GATEWAY_BRIDGE, STORES_LABEL, SwarmRecord

pytestmark = [pytest.mark.engine, pytest.mark.engine_teardown]


def test_teardown_leaves_nothing_labelled_with_the_stack(engine_stack: EngineStack) -> None:
    client = engine_stack.engine.client
    images = [image["id"] for image in engine_stack.outputs["images"].values()]
    assert engine_stack.engine.client.images.get(images[0])  # the control: present before

    assert engine_stack.down() == []

    filters = {"label": engine_stack.engine.label_filters}
    assert client.containers.list(all=True, filters=filters) == []
    assert client.networks.list(filters=filters) == []
    assert client.volumes.list(filters=filters) == []
    assert client.images.list(filters=filters) == []
    for image_id in images:
        with pytest.raises(docker.errors.ImageNotFound):
            client.images.get(image_id)
    # The shared base-image stand-ins are not the stack's: they stay cached for the next run.
    for stand_in in STAND_INS:
        assert client.images.get(stand_in.tag)


def test_swarm_teardown_removes_the_stack_and_undoes_what_the_harness_did_to_the_swarm(
    swarm_stack: EngineStack,
) -> None:
    client = swarm_stack.engine.client
    record = SwarmRecord.load(swarm_stack.files.swarm)
    assert record is not None and client.api.services(filters=swarm_filters(swarm_stack))

    assert swarm_stack.down() == []

    assert not swarm_stack.files.swarm.exists()
    if record.initialised:
        # It found no Swarm, so it leaves none, nor the bridge that `swarm init` made.
        assert client.info()["Swarm"]["LocalNodeState"] == "inactive"
        assert client.networks.list(names=[GATEWAY_BRIDGE]) == []
        return
    filters = swarm_filters(swarm_stack)
    for listing in (client.api.services, client.api.secrets, client.api.configs):
        assert listing(filters=filters) == []
    if record.labelled_node is not None:
        labels = client.api.inspect_node(record.labelled_node)["Spec"].get("Labels") or {}
        assert STORES_LABEL not in labels


def swarm_filters(stack: EngineStack) -> dict[str, list[str]]:
    return {"label": stack.engine.label_filters}
