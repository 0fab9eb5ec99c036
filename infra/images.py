"""Images built locally from the repository and never pushed: the servicekit runtime base and the
three services built on it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pulumi
import pulumi_docker as docker

from infra.config import Settings
from infra.naming import StackScope
from infra.sources import SourceTree

TAG = "local"
# The runtime base: Python, the pinned dependencies and servicekit (services/servicekit/Dockerfile).
SERVICEKIT = "servicekit"


def local_image(
    logical: str,
    scope: StackScope,
    *,
    context: Path,
    dockerfile: Path,
    args: Mapping[str, pulumi.Input[str]],
    registry: str | None = None,
    tag: str = TAG,
    opts: pulumi.ResourceOptions | None = None,
) -> docker.Image:
    """`<logical>-image`, tagged `<project>-<stack>-<logical>:local`: stack-scoped, never pushed.

    With a `registry` (the swarm target's imageRegistry) it is named `<registry>/<name>:<tag>` and
    pushed, so that every node can pull it; services then run its repo digest.
    """
    # Docker repository names must be lowercase; stack names need not be.
    repository = scope.name(logical).lower()
    image_name = f"{registry}/{repository}:{tag}" if registry else f"{repository}:{tag}"
    return docker.Image(
        f"{logical}-image",
        image_name=image_name,
        build=docker.DockerBuildArgs(
            # Relative to the program's working directory (the CLI runs it in infra/): absolute
            # paths would differ between checkouts and show every image as changed.
            context=_relative(context),
            dockerfile=_relative(dockerfile),
            args=dict(args),
        ),
        skip_push=registry is None,
        opts=opts,
    )


def declare_servicekit_image(
    settings: Settings, scope: StackScope, sources: SourceTree, opts: pulumi.ResourceOptions
) -> docker.Image:
    """The base the service images are built FROM.

    Its context is servicekit's own folder, not `services/`: the provider hashes the whole context,
    and a change to one service must not rebuild the base (and through it every service).
    """
    context = sources.services / SERVICEKIT
    return local_image(
        SERVICEKIT,
        scope,
        context=context,
        dockerfile=context / "Dockerfile",
        args={
            "PYTHON_IMAGE": settings.python_image,
            "SOURCE_DIGEST": sources.source_digest(SERVICEKIT),
        },
        opts=opts,
    )


def _relative(path: Path) -> str:
    return os.path.relpath(path, Path.cwd())
