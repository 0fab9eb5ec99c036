"""A no-op preview is empty: same config and sources declare identical inputs, a change to one
service's code changes only that service's image and container, and a change to what the servicekit
base image holds changes the base and, through it, every service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infra.sources import SourceTree
from stackplan.fakes import unwrap_secrets
from tests.support.evaluation import Evaluate, Evaluation


def declared_inputs(evaluation: Evaluation) -> dict[tuple[str, str], Any]:
    return {(r.type, r.name): unwrap_secrets(r.inputs) for r in evaluation.mocks.resources}


def changed_resources(before: Evaluation, after: Evaluation) -> set[str]:
    old, new = declared_inputs(before), declared_inputs(after)
    assert old.keys() == new.keys()
    return {name for (kind, name), inputs in old.items() if new[(kind, name)] != inputs}


def test_two_evaluations_declare_identical_inputs(evaluate: Evaluate) -> None:
    first, second = evaluate(), evaluate()
    # Registration order follows asyncio scheduling and means nothing to the engine; inputs do.
    assert declared_inputs(first) == declared_inputs(second)
    assert len(declared_inputs(first)) == len(first.mocks.resources)
    assert first.outputs == second.outputs


def test_changing_one_service_changes_only_its_image_and_container(
    evaluate: Evaluate, source_copy: Path
) -> None:
    before = evaluate(sources=source_copy)
    handler = next((source_copy / "services" / "order-service").rglob("*.py"))
    handler.write_text(handler.read_text() + "\n# a change to the orders service only\n")
    after = evaluate(sources=source_copy)
    assert changed_resources(before, after) == {"orders-image", "orders-1", "orders-2"}


BASE_AND_EVERY_SERVICE = {
    "servicekit-image",
    *(
        f"{name}{suffix}"
        for name in ("users", "products", "orders")
        for suffix in ("-image", "-1", "-2")
    ),
}


@pytest.mark.parametrize(
    "relative", ["settings.py", "requirements.txt", "Dockerfile"], ids=lambda path: path
)
def test_changing_the_base_image_changes_it_and_all_three_services(
    evaluate: Evaluate, source_copy: Path, relative: str
) -> None:
    before = evaluate(sources=source_copy)
    changed = source_copy / "services" / "servicekit" / relative
    changed.write_text(changed.read_text() + "\n# what the base image holds changed\n")
    after = evaluate(sources=source_copy)
    assert changed_resources(before, after) == BASE_AND_EVERY_SERVICE


def test_a_new_python_image_rebuilds_the_base_and_all_three_services(evaluate: Evaluate) -> None:
    before = evaluate()
    after = evaluate({"pythonImage": "python:3.11.12-slim-bookworm"})
    assert changed_resources(before, after) == BASE_AND_EVERY_SERVICE


@pytest.mark.parametrize("folder", ["user-service", "servicekit"])
def test_caches_do_not_change_the_source_digest(source_copy: Path, folder: str) -> None:
    tree = SourceTree(source_copy)
    before = tree.source_digest(folder)
    cache = source_copy / "services" / folder / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "module.cpython-311.pyc").write_bytes(b"\x00compiled")
    assert tree.source_digest(folder) == before
    (source_copy / "services" / folder / "requirements.txt").write_text("flask==0.1\n")
    assert tree.source_digest(folder) != before


def test_a_service_digest_covers_only_its_own_folder(source_copy: Path) -> None:
    tree = SourceTree(source_copy)
    before = tree.source_digest("user-service")
    for changed in ("servicekit/settings.py", "order-service/requirements.txt", "README.md"):
        path = source_copy / "services" / changed
        path.write_text(path.read_text() + "\n# elsewhere\n")
    assert tree.source_digest("user-service") == before


def test_two_stacks_declare_disjoint_docker_names(evaluate: Evaluate) -> None:
    def names(stack: str) -> set[str]:
        evaluation = evaluate(stack=stack)
        return {
            r.inputs["name"]
            for r in evaluation.mocks.resources
            if r.type.split("/")[-1] in {"network:Network", "volume:Volume", "container:Container"}
        } | {r.inputs["imageName"] for r in evaluation.of_type("docker:index/image:Image")}

    dev, ci = names("dev"), names("ci")
    assert len(dev) == len(ci) == 17
    assert not dev & ci
