"""What the stack ships is what CI proves: each default image pin is the release that the engine
suite's stand-in provides (tests/engine/base_images, named in Pulumi.ci.yaml), so a pin cannot move
to another major (a PostgreSQL data directory is tied to its major) without CI proving it first."""

from __future__ import annotations

import re

import pytest
import yaml

from infra.config import DEFAULTS
from tests.support.evaluation import REPOSITORY

IMAGE_KEYS = ("postgresImage", "redisImage", "nginxImage", "pythonImage")


def stand_ins() -> dict[str, str]:
    config = yaml.safe_load((REPOSITORY / "Pulumi.ci.yaml").read_text())["config"]
    return {key: config[f"microstack:{key}"] for key in IMAGE_KEYS}


def repository_and_version(reference: str) -> tuple[str, tuple[int, ...]]:
    """`postgres:15.10-bookworm` -> ("postgres", (15, 10)); the last path part of the name."""
    name, _, tag = reference.partition(":")
    version = re.match(r"\d+(?:\.\d+)*", tag)
    assert version, f"{reference}: the tag does not start with a version"
    return name.rsplit("/", 1)[-1], tuple(int(part) for part in version.group().split("."))


@pytest.mark.parametrize("key", IMAGE_KEYS)
def test_the_default_pin_is_the_release_its_stand_in_proves(key: str) -> None:
    pinned_name, pinned = repository_and_version(DEFAULTS[key])
    stand_in_name, proven = repository_and_version(stand_ins()[key])

    assert pinned_name == stand_in_name
    # The stand-in names as much of the version as Debian fixes: 15 for PostgreSQL, 1.22 for nginx.
    assert pinned[: len(proven)] == proven, f"{key}: {DEFAULTS[key]} is not {stand_ins()[key]}"


def test_the_dev_stack_file_lists_the_defaults() -> None:
    config = yaml.safe_load((REPOSITORY / "Pulumi.dev.yaml").read_text())["config"]
    for key in IMAGE_KEYS:
        assert config[f"microstack:{key}"] == DEFAULTS[key]
