"""The service tier: the servicekit runtime base image and one `Service` per entry of
servicekit.contract.SERVICES, all built on that base."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_docker as docker
from servicekit.contract import SERVICES, Endpoint, ServiceEnvironment

from infra import postgres, redis
from infra.config import Settings
from infra.credentials import Credentials
from infra.images import declare_servicekit_image
from infra.moves import moved_under
from infra.naming import StackScope
from infra.network import Networks
from infra.service import PORT, Service, ServiceArgs
from infra.sources import SourceTree
from infra.swarm import SwarmOptions

DATABASE_PASSWORD_FILE = "/run/secrets/database-password"
REDIS_PASSWORD_FILE = "/run/secrets/redis-password"


@dataclass(frozen=True)
class ServicesArgs:
    settings: Settings
    scope: StackScope
    networks: Networks
    credentials: Credentials
    sources: SourceTree
    # The data stores: a service starts only once they are up (its health needs them).
    depends_on: Sequence[pulumi.Resource]


class Services(pulumi.ComponentResource):
    base_image: docker.Image
    services: dict[str, Service]

    def __init__(
        self, name: str, args: ServicesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("microstack:index:Services", name, None, opts)
        self.base_image = declare_servicekit_image(
            args.settings, args.scope, args.sources, moved_under(self)
        )
        self.services = {name: self._service(name, args) for name in SERVICES}
        self.register_outputs(
            {name: service.replica_names for name, service in self.services.items()}
        )

    def _service(self, name: str, args: ServicesArgs) -> Service:
        folder = SERVICES[name].folder
        return Service(
            name,
            ServiceArgs(
                context=args.sources.services / folder,
                # Only the service's folder: servicekit's changes arrive through the base image.
                source_digest=args.sources.source_digest(folder),
                base_image=self.base_image,
                environment=service_environment(args.settings),
                secret_files={
                    DATABASE_PASSWORD_FILE: args.credentials.postgres_app_password,
                    REDIS_PASSWORD_FILE: args.credentials.redis_password,
                },
                networks=[args.networks.frontend, args.networks.backend],
                memory_mb=args.settings.service_memory_mb,
                scope=args.scope,
                replicas=args.settings.replicas(name),
                depends_on=args.depends_on,
                swarm=SwarmOptions.of(args.settings),
            ),
            moved_under(self),
        )


def service_environment(settings: Settings) -> dict[str, str]:
    """The servicekit settings contract for a service container; passwords arrive as files."""
    return ServiceEnvironment(
        database=Endpoint(postgres.HOSTNAME, postgres.PORT),
        database_name=postgres.DATABASE,
        database_user=postgres.APP_USER,
        database_password_file=DATABASE_PASSWORD_FILE,
        redis=Endpoint(redis.HOSTNAME, redis.PORT),
        redis_password_file=REDIS_PASSWORD_FILE,
        log_level=settings.log_level,
        port=PORT,
        cache_item_ttl_seconds=settings.cache_item_ttl_seconds,
        cache_list_ttl_seconds=settings.cache_list_ttl_seconds,
        gunicorn_workers=settings.gunicorn_workers,
        gunicorn_threads=settings.gunicorn_threads,
        cors_allowed_origins=settings.cors_allowed_origins,
    ).variables()
