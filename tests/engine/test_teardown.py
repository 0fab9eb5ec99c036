"""Teardown removes everything labelled with the stack. Runs last (see conftest): it removes the
session's stack."""

from __future__ import annotations

import docker.errors
import pytest

from tests.engine.build_base_images import STAND_INS
from tests.engine.stack import EngineStack

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
