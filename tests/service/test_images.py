"""The service Dockerfiles keep the image contract (architecture.md, "Container images")."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scripts.devstack.servers import SERVICES_DIR
from tests.service.layout import SERVICES


def instructions(dockerfile: Path) -> list[str]:
    """Dockerfile instructions with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", dockerfile.read_text())
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_dockerfile_follows_the_image_contract(service: str) -> None:
    layout = SERVICES[service]
    steps = instructions(layout.directory / "Dockerfile")
    assert re.fullmatch(r"ARG PYTHON_IMAGE=python:3\.11\.\d+-slim-bookworm", steps[0])
    assert steps[1] == "FROM ${PYTHON_IMAGE}"
    assert "USER 10001:0" in steps
    assert any("PYTHONPATH=/app" in step for step in steps if step.startswith("ENV"))
    assert (
        'CMD ["gunicorn", "--config", "python:servicekit.gunicorn_config", '
        f'"{layout.package}:create_app()"]'
    ) in steps
    # The source digest comes last, so a new digest rebuilds only the metadata layer.
    assert steps[-2:] == [
        "ARG SOURCE_DIGEST=unknown",
        "LABEL org.opencontainers.image.revision=${SOURCE_DIGEST}",
    ]
    assert not any(re.search(r"PASSWORD|SECRET", step) for step in steps)
    copies = [step for step in steps if step.startswith("COPY")]
    assert copies[0] == "COPY servicekit/requirements.txt servicekit/requirements.txt"
    assert copies[-2:] == [
        "COPY servicekit servicekit",
        f"COPY {layout.directory.name}/{layout.package} {layout.package}",
    ]


def test_the_dependency_layers_are_identical_in_all_three_images() -> None:
    """Same instructions up to the first service-specific one: the engine builds them once."""
    prefixes = set()
    for layout in SERVICES.values():
        steps = instructions(layout.directory / "Dockerfile")
        service_specific = next(i for i, step in enumerate(steps) if layout.directory.name in step)
        prefixes.add(tuple(steps[:service_specific]))
    assert len(prefixes) == 1
    assert any("pip install -r servicekit/requirements.txt" in step for step in prefixes.pop())


def test_service_requirements_point_at_servicekit_pins() -> None:
    for layout in SERVICES.values():
        assert (
            "-r ../servicekit/requirements.txt"
            in (layout.directory / "requirements.txt").read_text()
        )
    pins = (SERVICES_DIR / "servicekit" / "requirements.txt").read_text().split()
    assert pins and all("==" in pin for pin in pins)


def test_build_context_leaves_out_caches_and_tests() -> None:
    ignored = (SERVICES_DIR / ".dockerignore").read_text().split()
    assert {"**/__pycache__", "**/tests", "**/.pytest_cache"} <= set(ignored)
