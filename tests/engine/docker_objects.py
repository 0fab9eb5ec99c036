"""Networks, volumes and images: each handler realizes one resource and returns (id, outputs).

Outputs carry the provider's property names (camelCase) with realistic values, because the program
reads them (`network.name`, `image.repo_digest`, `remote_image.image_id`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import docker.errors

from tests.engine.engine import DockerEngine
from tests.engine.inputs import ResourceInputs, UnsupportedInputError, label_map


class ImageBuildError(RuntimeError):
    """A declared image did not build; the message ends with the build log."""


class MissingImageError(RuntimeError):
    """A RemoteImage is not on the engine, and the harness never pulls."""


def network(engine: DockerEngine, inputs: ResourceInputs) -> tuple[str, dict[str, Any]]:
    name = inputs.require("name")
    driver = inputs.take("driver", "bridge")
    internal = bool(inputs.take("internal", False))
    attachable = bool(inputs.take("attachable", False))
    labels = label_map(inputs.take("labels"))
    options = inputs.take("options") or {}
    inputs.accept_if("ipv6", False)
    inputs.accept_if("checkDuplicate", True)
    inputs.finish()
    created = engine.client.networks.create(
        name,
        driver=driver,
        internal=internal,
        attachable=attachable,
        labels=labels,
        options=options,
        check_duplicate=True,
    )
    engine.ledger.add("network", str(created.id), name)
    created.reload()
    return str(created.id), {
        "name": name,
        "driver": driver,
        "internal": internal,
        "attachable": attachable,
        "scope": created.attrs.get("Scope", "local"),
        "options": options,
        "ipamConfigs": ipam_configs(created.attrs),
    }


def ipam_configs(attrs: dict[str, Any]) -> list[dict[str, str]]:
    configs = (attrs.get("IPAM") or {}).get("Config") or []
    return [
        {"subnet": config.get("Subnet", ""), "gateway": config.get("Gateway", "")}
        for config in configs
    ]


def volume(engine: DockerEngine, inputs: ResourceInputs) -> tuple[str, dict[str, Any]]:
    name = inputs.require("name")
    driver = inputs.take("driver", "local")
    driver_opts = inputs.take("driverOpts") or {}
    labels = label_map(inputs.take("labels"))
    inputs.finish()
    created = engine.client.volumes.create(
        name=name, driver=driver, driver_opts=driver_opts, labels=labels
    )
    engine.ledger.add("volume", name, name)
    return name, {"name": name, "driver": driver, "mountpoint": created.attrs.get("Mountpoint")}


def build_image(engine: DockerEngine, inputs: ResourceInputs) -> tuple[str, dict[str, Any]]:
    """docker:index/image:Image built locally, then pushed unless `skipPush` (the swarm target with
    an imageRegistry pushes; only a registry the test itself runs, trusted without credentials)."""
    image_name = inputs.require("imageName")
    push = not inputs.take("skipPush", False)
    inputs.accept_if("buildOnPreview", True, False)
    build = inputs.block("build")
    if build is None:
        raise UnsupportedInputError(f"{inputs.where}: an image without `build` would be pulled")
    context = Path(build.require("context"))
    dockerfile = Path(build.take("dockerfile") or context / "Dockerfile")
    build_args = build.take("args") or {}
    target = build.take("target")
    platform = build.take("platform")
    build.accept_if("builderVersion", "BuilderV1")
    build.finish()
    inputs.finish()
    image_id = run_build(engine, image_name, context, dockerfile, build_args, target, platform)
    # For a local, unpushed image the provider gives the image ID as its repo digest.
    repo_digest = push_image(engine, image_name) if push else image_id
    return image_id, {
        "imageName": image_name,
        "baseImageName": image_name,
        "repoDigest": repo_digest,
        "registryServer": image_name.split("/", 1)[0] if push else "",
        "context": str(context),
        "dockerfile": str(dockerfile),
        "platform": platform or "linux/amd64",
    }


def run_build(
    engine: DockerEngine,
    tag: str,
    context: Path,
    dockerfile: Path,
    build_args: dict[str, str],
    target: str | None,
    platform: str | None,
) -> str:
    relative = os.path.relpath(dockerfile, context)
    if relative.startswith(".."):
        raise UnsupportedInputError(f"Image {tag}: Dockerfile {dockerfile} is outside {context}")
    log: list[str] = []
    # No lock around builds: the services share only the servicekit base, which Pulumi builds
    # before them (their build args name it), so they build side by side.
    try:
        for chunk in engine.client.api.build(
            path=str(context),
            dockerfile=relative,
            tag=tag,
            buildargs=build_args,
            target=target,
            platform=platform,
            # Not declared by the program (the provider's Image has no labels): added so that
            # teardown's label sweep finds the image even when a crashed run lost the ledger.
            labels=engine.stack_labels,
            rm=True,
            forcerm=True,
            decode=True,
        ):
            log.extend(str(chunk.get("stream", "")).splitlines())
            if "error" in chunk:
                raise ImageBuildError(f"building {tag}: {chunk['error']}\n" + tail(log))
    except docker.errors.APIError as error:
        raise ImageBuildError(f"building {tag}: {error}\n" + tail(log)) from error
    image_id = str(engine.client.images.get(tag).id)
    engine.ledger.add("image", image_id, tag)
    return image_id


def push_image(engine: DockerEngine, image_name: str) -> str:
    """Push `registry/repository:tag`; its repo digest (`registry/repository@sha256:...`), which
    is what every node pulls."""
    repository, _, tag = image_name.rpartition(":")
    for chunk in engine.client.images.push(repository, tag=tag, stream=True, decode=True):
        if "error" in chunk:
            raise ImageBuildError(f"pushing {image_name}: {chunk['error']}")
    digests = engine.client.images.get(image_name).attrs.get("RepoDigests") or []
    pushed = [digest for digest in digests if digest.startswith(f"{repository}@")]
    if not pushed:
        raise ImageBuildError(f"pushing {image_name}: the registry gave no digest ({digests})")
    return str(pushed[0])


def tail(lines: list[str], count: int = 40) -> str:
    return "\n".join(line for line in lines[-count:] if line.strip())


def remote_image(engine: DockerEngine, inputs: ResourceInputs) -> tuple[str, dict[str, Any]]:
    """A registry image: it must already be on the engine (CI builds stand-ins); never pulled."""
    name = inputs.require("name")
    keep_locally = bool(inputs.take("keepLocally", False))
    inputs.finish()
    try:
        image = engine.client.images.get(name)
    except docker.errors.ImageNotFound as error:
        raise MissingImageError(
            f"RemoteImage {name!r} is not on the Docker engine and the harness does not pull: "
            "build the stand-ins (python -m tests.engine.build_base_images) and use a stack config "
            "that points at them (Pulumi.ci.yaml)"
        ) from error
    digests = image.attrs.get("RepoDigests") or []
    # Not recorded in the ledger: the image existed before the run and other stacks share it.
    return f"{image.id}{name}", {
        "name": name,
        "imageId": str(image.id),
        "repoDigest": digests[0] if digests else "",
        "keepLocally": keep_locally,
    }
