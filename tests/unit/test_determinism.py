"""A no-op preview is empty: same config and sources declare identical inputs, and a change to one
service's code changes only that service's image and container."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infra.sources import SourceTree
from tests.support.pulumi_program import unwrap_secrets
from tests.unit.conftest import Evaluate, Evaluation


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
    assert changed_resources(before, after) == {"orders-image", "orders"}


def test_changing_servicekit_changes_all_three_services(
    evaluate: Evaluate, source_copy: Path
) -> None:
    before = evaluate(sources=source_copy)
    settings = source_copy / "services" / "servicekit" / "settings.py"
    settings.write_text(settings.read_text() + "\n# shared code changed\n")
    after = evaluate(sources=source_copy)
    expected = {"users-image", "users", "products-image", "products", "orders-image", "orders"}
    assert changed_resources(before, after) == expected


def test_caches_do_not_change_the_source_digest(source_copy: Path) -> None:
    tree = SourceTree(source_copy)
    before = tree.service_source_digest("user-service")
    cache = source_copy / "services" / "user-service" / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "module.cpython-311.pyc").write_bytes(b"\x00compiled")
    assert tree.service_source_digest("user-service") == before
    (source_copy / "services" / "user-service" / "requirements.txt").write_text("flask==0.1\n")
    assert tree.service_source_digest("user-service") != before


def test_two_stacks_declare_disjoint_docker_names(evaluate: Evaluate) -> None:
    def names(stack: str) -> set[str]:
        evaluation = evaluate(stack=stack)
        return {
            r.inputs["name"]
            for r in evaluation.mocks.resources
            if r.type.split("/")[-1] in {"network:Network", "volume:Volume", "container:Container"}
        } | {r.inputs["imageName"] for r in evaluation.of_type("docker:index/image:Image")}

    dev, ci = names("dev"), names("ci")
    assert len(dev) == len(ci) == 13
    assert not dev & ci
