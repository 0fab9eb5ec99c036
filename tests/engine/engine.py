"""The Docker engine as the harness sees it: a client per thread, the stack identity, the ledger."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import docker
import docker.errors

from infra.naming import StackScope
from tests.engine.ledger import Ledger

# Builds and health waits can take minutes; the SDK's default 60 s read timeout is too short.
CLIENT_TIMEOUT_SECONDS = 600


@dataclass
class DockerEngine:
    project: str
    stack: str
    ledger: Ledger
    _local: threading.local = field(default_factory=threading.local)

    @property
    def client(self) -> docker.DockerClient:
        # The Pulumi runtime registers resources from a thread pool; the SDK's HTTP session is not
        # documented as thread-safe, so every thread gets its own.
        client = getattr(self._local, "client", None)
        if client is None:
            client = docker.from_env(timeout=CLIENT_TIMEOUT_SECONDS)
            self._local.client = client
        return client

    @property
    def scope(self) -> StackScope:
        """Names and labels as the Pulumi program derives them (infra/naming.py)."""
        return StackScope(self.project, self.stack)

    @property
    def stack_labels(self) -> dict[str, str]:
        return self.scope.stack_labels

    @property
    def label_filters(self) -> list[str]:
        return [f"{key}={value}" for key, value in self.stack_labels.items()]


def docker_available() -> str | None:
    """None when dockerd answers, else the reason it does not."""
    try:
        client = docker.from_env(timeout=10)
        client.ping()
        client.close()
    except docker.errors.DockerException as error:
        return f"no Docker engine: {error}"
    return None
