"""Building blocks shared by every container: one place for restart, health and file rules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_docker as docker

from infra.naming import StackScope

# Survive engine restarts and crashes, but stay down when an operator stops a container on purpose.
RESTART_POLICY = "unless-stopped"
# `pulumi up` returns only once every container is healthy; PostgreSQL's first start runs initdb and
# the schema, which takes a while on a cold machine.
WAIT_TIMEOUT_SECONDS = 180
# Nothing in these containers needs to gain privileges through setuid binaries.
SECURITY_OPTIONS = ["no-new-privileges:true"]
# Docker's own `docker stop` grace period. Without `destroy_grace_seconds` the provider removes a
# container by force (SIGKILL) on `destroy` or replacement; with it, the process shuts down cleanly.
STOP_SECONDS = 10


def declare_container(
    logical: str,
    scope: StackScope,
    *,
    memory_mb: int,
    stop_seconds: int = STOP_SECONDS,
    extra_labels: Mapping[str, str] | None = None,
    opts: pulumi.ResourceOptions | None = None,
    **arguments: Any,
) -> docker.Container:
    """A container with the rules every microstack container shares; `arguments` add the rest.

    Stack-scoped name and labels, a memory limit, no privilege escalation, restart unless stopped,
    a clean stop before removal, `pulumi up` waiting until the healthcheck passes, and uploads
    marked secret (some of them are).
    """
    return docker.Container(
        logical,
        name=scope.name(logical),
        labels=scope.label_list(logical, extra_labels),
        memory=memory_mb,
        security_opts=SECURITY_OPTIONS,
        restart=RESTART_POLICY,
        stop_timeout=stop_seconds,
        destroy_grace_seconds=stop_seconds,
        wait=True,
        wait_timeout=WAIT_TIMEOUT_SECONDS,
        opts=pulumi.ResourceOptions.merge(
            pulumi.ResourceOptions(additional_secret_outputs=["uploads"]), opts
        ),
        **arguments,
    )


def environment(variables: Mapping[str, str]) -> list[str]:
    """`KEY=VALUE` entries, sorted so that two evaluations declare identical inputs."""
    return [f"{key}={variables[key]}" for key in sorted(variables)]


def healthcheck(
    test: Sequence[str], *, start_period: str = "30s"
) -> docker.ContainerHealthcheckArgs:
    return docker.ContainerHealthcheckArgs(
        tests=list(test), interval="5s", timeout="3s", retries=5, start_period=start_period
    )


def secret_file(path: str, content: pulumi.Input[str], *, group: str = "0") -> dict[str, object]:
    """A file only root and one group can read (0440): secrets are files, never environment.

    The content is marked secret here, whatever the caller passed, so it stays encrypted in state
    and shows as [secret] in diffs.
    """
    return {
        "file": path,
        "content": pulumi.Output.secret(content),
        "owner": "0",
        "group": group,
        "permissions": "0440",
    }


def public_file(
    path: str, content: pulumi.Input[str], *, executable: bool = False
) -> dict[str, object]:
    permissions = "0555" if executable else "0444"
    return {
        "file": path,
        "content": content,
        "owner": "0",
        "group": "0",
        "permissions": permissions,
    }


def attach(network: docker.Network, *aliases: str) -> dict[str, object]:
    return {"name": network.name, "aliases": sorted(aliases)}


def published_port(internal: int, external: int, address: str) -> dict[str, object]:
    return {"internal": internal, "external": external, "ip": address, "protocol": "tcp"}


def remote_image(logical: str, reference: str) -> docker.RemoteImage:
    """A registry base image, kept after `destroy`: other stacks on the engine share it."""
    return docker.RemoteImage(f"{logical}-image", name=reference, keep_locally=True)
