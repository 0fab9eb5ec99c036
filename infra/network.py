"""Docker networks: the gateway and services share `frontend`; the data stores live on an internal
`backend` that only the services also join, so PostgreSQL and Redis have no route outside."""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from infra.moves import moved_under
from infra.naming import StackScope


class Networks(pulumi.ComponentResource):
    """The stack's networks: bridges on one engine, or Swarm overlays that span the nodes."""

    frontend: docker.Network
    backend: docker.Network
    # Docker publishes no ports for a container attached only to internal networks, so a data store
    # published to the host (opt-in) also joins this network. None when nothing is published.
    published: docker.Network | None

    def __init__(
        self,
        name: str,
        scope: StackScope,
        *,
        any_store_published: bool,
        overlay: bool = False,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("microstack:index:Networks", name, None, opts)
        self._overlay = overlay
        self.frontend = self._network(scope, "frontend", internal=False)
        # Attachable (overlay only): an operator's one-off container (psql, a migration, a backup)
        # can join the data stores' network with `docker run --network`.
        self.backend = self._network(scope, "backend", internal=True, attachable=True)
        self.published = (
            self._network(scope, "published", internal=False) if any_store_published else None
        )
        self.register_outputs(
            {"frontend": self.frontend.name, "backend": self.backend.name}
            | ({"published": self.published.name} if self.published else {})
        )

    def _network(
        self, scope: StackScope, logical: str, *, internal: bool, attachable: bool = False
    ) -> docker.Network:
        return docker.Network(
            f"{logical}-network",
            name=scope.name(logical),
            driver="overlay" if self._overlay else "bridge",
            internal=internal,
            attachable=attachable if self._overlay else None,
            labels=[
                docker.NetworkLabelArgs(label=key, value=value)
                for key, value in scope.label_pairs(f"network-{logical}")
            ],
            opts=moved_under(self),
        )
