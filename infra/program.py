"""The whole platform, declared once from a Settings object. `__main__`, the mock tests and the
engine harness all call `declare_platform`, so the topology is written in exactly one place.

One component per tier, as in the README's diagram: the networks, the credentials, the two data
stores, the services (on their shared base image) and the gateway in front of them. Each tier
declares containers or Swarm resources as `microstack:target` says, and exposes the same outputs
either way (docs/architecture.md, "Targets").
"""

from __future__ import annotations

import pulumi

from infra.config import Settings
from infra.credentials import Credentials
from infra.data_store import DataStore
from infra.gateway import Gateway, GatewayArgs
from infra.naming import StackScope
from infra.network import Networks
from infra.outputs import stack_outputs
from infra.postgres import postgres_args
from infra.redis import redis_args
from infra.services import Services, ServicesArgs
from infra.sources import SourceTree
from infra.swarm import SwarmOptions


def declare_platform(
    settings: Settings, sources: SourceTree | None = None
) -> dict[str, pulumi.Output[object]]:
    """Declare every resource and return the stack outputs document, one Output per key."""
    sources = sources or SourceTree.of_repository()
    scope = StackScope.current()
    networks = Networks(
        "networks",
        scope,
        any_store_published=settings.publish_postgres or settings.publish_redis,
        overlay=settings.swarm,
    )
    credentials = Credentials("credentials")
    swarm = SwarmOptions.of(settings)
    database = DataStore(
        "postgres", postgres_args(settings, credentials, sources), scope, networks, swarm
    )
    cache = DataStore("redis", redis_args(settings, credentials), scope, networks, swarm)
    services = Services(
        "services",
        ServicesArgs(
            settings,
            scope,
            networks,
            credentials,
            sources,
            depends_on=[database.workload, cache.workload],
        ),
    )
    gateway = Gateway("gateway", GatewayArgs(settings, scope, networks, sources, services.services))
    return stack_outputs(
        settings,
        scope,
        networks=networks,
        database=database,
        cache=cache,
        services=services,
        credentials=credentials,
        gateway=gateway,
    )
