"""The whole platform, declared once from a Settings object. `__main__`, the mock tests and the
engine harness all call `declare_platform`, so the topology is written in exactly one place."""

from __future__ import annotations

import pulumi

from infra.config import Settings
from infra.credentials import declare_secrets
from infra.gateway import declare_gateway
from infra.images import declare_servicekit_image
from infra.naming import StackScope
from infra.network import declare_networks
from infra.outputs import stack_outputs
from infra.postgres import declare_postgres
from infra.redis import declare_redis
from infra.services import declare_services
from infra.sources import SourceTree
from infra.tls import declare_tls


def declare_platform(
    settings: Settings, sources: SourceTree | None = None
) -> dict[str, pulumi.Output[object]]:
    """Declare every resource and return the stack outputs document, one Output per key."""
    sources = sources or SourceTree.of_repository()
    scope = StackScope.current()
    secrets = declare_secrets()
    tls = declare_tls(settings)
    networks = declare_networks(
        scope, any_store_published=settings.publish_postgres or settings.publish_redis
    )
    database = declare_postgres(settings, scope, networks, secrets, sources)
    cache = declare_redis(settings, scope, networks, secrets)
    servicekit = declare_servicekit_image(settings, scope, sources)
    services = declare_services(
        settings,
        scope,
        networks,
        secrets,
        sources,
        base_image=servicekit,
        depends_on=[database.container, cache.container],
    )
    declare_gateway(settings, scope, networks, tls, sources, services)
    return stack_outputs(
        settings,
        scope,
        networks=networks,
        database=database,
        cache=cache,
        services=services,
        servicekit=servicekit,
        secrets=secrets,
        tls=tls,
    )
