"""The Dockerfiles keep the image contract (architecture.md, "Container images"): one servicekit
runtime base with the dependencies, and three short service Dockerfiles built FROM it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from servicekit.contract import INTERPRETER_ENVIRONMENT, SERVICES, ServiceDefinition

from launchers.gunicorn import GunicornServer
from launchers.paths import SERVICES_DIR, service_directory

BASE_DIR = SERVICES_DIR / "servicekit"
NO_SECRETS = re.compile(r"PASSWORD|SECRET|TOKEN|KEY=", re.IGNORECASE)


def instructions(dockerfile: Path) -> list[str]:
    """Dockerfile instructions with continuation lines joined and comments dropped."""
    text = re.sub(r"\s*\\\n\s*", " ", dockerfile.read_text())
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def service_steps(service: ServiceDefinition) -> list[str]:
    return instructions(service_directory(service) / "Dockerfile")


def test_the_base_image_installs_the_pinned_dependencies_before_servicekit() -> None:
    steps = instructions(BASE_DIR / "Dockerfile")
    assert re.fullmatch(r"ARG PYTHON_IMAGE=python:3\.11\.\d+-slim-bookworm", steps[0])
    assert steps[1] == "FROM ${PYTHON_IMAGE}"
    assert any("PYTHONPATH=/app" in step for step in steps if step.startswith("ENV"))
    assert "WORKDIR /app" in steps
    # The dependency layer depends on the requirements file alone: editing code keeps it cached.
    install = steps.index("RUN pip install -r servicekit/requirements.txt")
    assert steps[install - 1] == "COPY requirements.txt servicekit/requirements.txt"
    assert steps.index("COPY . servicekit") > install
    assert "RUN python -m compileall -q servicekit" in steps
    assert "USER 10001:0" in steps
    assert "EXPOSE 8000" in steps
    healthcheck = next(step for step in steps if step.startswith("HEALTHCHECK"))
    assert healthcheck.endswith('CMD ["python", "-m", "servicekit.healthcheck"]')
    assert steps[-2:] == [
        "ARG SOURCE_DIGEST=unknown",
        "LABEL org.opencontainers.image.revision=${SOURCE_DIGEST}",
    ]
    assert not any(NO_SECRETS.search(step) for step in steps)


def test_the_base_image_runs_the_interpreter_as_the_local_stack_does() -> None:
    steps = instructions(BASE_DIR / "Dockerfile")
    environment = dict(
        pair.split("=", 1) for step in steps if step.startswith("ENV ") for pair in step.split()[1:]
    )
    assert INTERPRETER_ENVIRONMENT.items() <= environment.items()
    # PYTHONOPTIMIZE=2 loads *.opt-2.pyc: the standard library's are compiled in the image (the
    # service user cannot write them), before the dependencies so that layer stays cached.
    compile_stdlib = next(i for i, step in enumerate(steps) if 'get_path("stdlib")' in step)
    assert steps[compile_stdlib].startswith("RUN python -m compileall")
    assert compile_stdlib < steps.index("RUN pip install -r servicekit/requirements.txt")


def test_the_local_stack_runs_the_interpreter_as_the_image_does(tmp_path: Path) -> None:
    server = GunicornServer("product_service", service_directory(SERVICES["products"]), tmp_path)
    assert INTERPRETER_ENVIRONMENT.items() <= server.process_environment().items()


@pytest.mark.parametrize(
    "context", [BASE_DIR, *map(service_directory, SERVICES.values())], ids=lambda p: p.name
)
def test_each_build_context_sends_neither_caches_nor_its_build_files(context: Path) -> None:
    # Each image has its own folder as context: `COPY . servicekit` must not copy the build files,
    # and local caches must not reach the engine, nor pulumi-docker's context hash (a false diff).
    ignored = set((context / ".dockerignore").read_text().split())
    assert {"Dockerfile", ".dockerignore", "**/__pycache__", "**/tests", "**/.env"} <= ignored


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_a_service_image_adds_only_its_own_package_to_the_base(service: str) -> None:
    definition = SERVICES[service]
    folder, package = definition.folder, definition.package
    steps = service_steps(definition)
    assert steps[:2] == ["ARG BASE_IMAGE", "FROM ${BASE_IMAGE}"]
    assert sum(step.startswith("FROM") for step in steps) == 1
    # Installing and compiling run as root; the image then runs as the unprivileged user.
    users = [step for step in steps if step.startswith("USER")]
    assert users == ["USER root", "USER 10001:0"]
    assert steps.index("USER 10001:0") > max(i for i, s in enumerate(steps) if s.startswith("RUN"))
    copies = [step for step in steps if step.startswith("COPY")]
    assert copies == [
        # Under /app/<folder>/, so that its `-r ../servicekit/requirements.txt` finds the base's.
        f"COPY requirements.txt {folder}/requirements.txt",
        f"COPY {package} {package}",
    ]
    assert f"RUN pip install -r {folder}/requirements.txt" in steps
    assert f"RUN python -m compileall -q {package}" in steps
    assert (
        'CMD ["gunicorn", "--config", "python:servicekit.gunicorn_config", '
        f'"{package}:create_app()"]'
    ) in steps
    # The source digest and base ID come last, so new values rebuild only the metadata layer.
    assert steps[-3:] == [
        "ARG SOURCE_DIGEST=unknown",
        "ARG BASE_IMAGE_ID=unknown",
        "LABEL org.opencontainers.image.revision=${SOURCE_DIGEST} "
        "org.opencontainers.image.base.digest=${BASE_IMAGE_ID}",
    ]
    assert not any(NO_SECRETS.search(step) for step in steps)


def test_the_service_dockerfiles_differ_only_in_the_service_names() -> None:
    """The shared steps live in the base; what is left must not drift apart between services."""
    shapes = {
        service_directory(service)
        .joinpath("Dockerfile")
        .read_text()
        .replace(service.folder, "<folder>")
        .replace(service.package, "<package>")
        for service in SERVICES.values()
    }
    assert len(shapes) == 1


def test_only_the_base_installs_the_shared_dependencies() -> None:
    for service in SERVICES.values():
        assert not any("servicekit" in step for step in service_steps(service) if "COPY" in step)
        assert not any("servicekit/requirements" in step for step in service_steps(service))


def test_service_requirements_point_at_servicekit_pins() -> None:
    for service in SERVICES.values():
        lines = (service_directory(service) / "requirements.txt").read_text().splitlines()
        entries = [line for line in lines if line.strip() and not line.startswith("#")]
        assert entries[0] == "-r ../servicekit/requirements.txt"
        # Anything a service adds beyond servicekit is pinned too.
        assert all("==" in entry for entry in entries[1:])
    lines = (BASE_DIR / "requirements.txt").read_text().splitlines()
    pins = [line for line in lines if line.strip() and not line.startswith("#")]
    assert pins and all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.]*", pin) for pin in pins)
