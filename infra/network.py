"""Docker networks: the gateway and services share `frontend`; the data stores live on an internal
`backend` that only the services also join, so PostgreSQL and Redis have no route outside."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi_docker as docker

from infra.naming import StackScope


@dataclass(frozen=True)
class Networks:
    frontend: docker.Network
    backend: docker.Network
    # Docker publishes no ports for a container attached only to internal networks, so a data store
    # published to the host (opt-in) also joins this network. None when nothing is published.
    published: docker.Network | None


def declare_networks(scope: StackScope, *, any_store_published: bool) -> Networks:
    return Networks(
        frontend=_network(scope, "frontend", internal=False),
        backend=_network(scope, "backend", internal=True),
        published=_network(scope, "published", internal=False) if any_store_published else None,
    )


def _network(scope: StackScope, logical: str, *, internal: bool) -> docker.Network:
    return docker.Network(
        f"{logical}-network",
        name=scope.name(logical),
        driver="bridge",
        internal=internal,
        labels=scope.label_list(f"network-{logical}"),
    )
