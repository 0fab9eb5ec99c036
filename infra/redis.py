"""Redis on the internal backend network: password required, append-only file on a volume.

The password lives in the uploaded config file only. The healthcheck reads it from there into
REDISCLI_AUTH inside the check's own shell, so it never shows in `docker inspect` (env or command).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from infra import containers
from infra.config import Settings
from infra.credentials import Secrets
from infra.naming import StackScope
from infra.network import Networks

HOSTNAME = "redis"
PORT = 6379
CONFIG_FILE = "/usr/local/etc/redis/redis.conf"
DATA_DIRECTORY = "/data"
# The official image's `redis` group: redis reads its config after the entrypoint drops root.
REDIS_GROUP = "999"
HEALTHCHECK = (
    f"REDISCLI_AUTH=\"$(sed -n 's/^requirepass //p' {CONFIG_FILE})\" "
    f"redis-cli -h 127.0.0.1 -p {PORT} ping | grep -q PONG"
)


@dataclass(frozen=True)
class Redis:
    container: docker.Container
    volume: docker.Volume


def declare_redis(
    settings: Settings, scope: StackScope, networks: Networks, secrets: Secrets
) -> Redis:
    image = containers.remote_image("redis", settings.redis_image)
    volume = docker.Volume(
        "redis-data", name=scope.name("redis-data"), labels=scope.label_list("redis")
    )
    container = docker.Container(
        "redis",
        name=scope.name("redis"),
        image=image.image_id,
        command=["redis-server", CONFIG_FILE],
        uploads=[
            containers.secret_file(
                CONFIG_FILE, redis_config(secrets.redis_password), group=REDIS_GROUP
            )
        ],
        volumes=[{"volume_name": volume.name, "container_path": DATA_DIRECTORY}],
        networks_advanced=_networks(settings, networks),
        ports=_ports(settings),
        healthcheck=containers.healthcheck(["CMD-SHELL", HEALTHCHECK], start_period="10s"),
        restart=containers.RESTART_POLICY,
        memory=settings.redis_memory_mb,
        security_opts=containers.SECURITY_OPTIONS,
        labels=scope.label_list("redis"),
        wait=True,
        wait_timeout=containers.WAIT_TIMEOUT_SECONDS,
        opts=containers.secret_uploads_option(),
    )
    return Redis(container=container, volume=volume)


def redis_config(password: pulumi.Output[str]) -> pulumi.Output[str]:
    # Output.format keeps the result secret because the password is.
    return pulumi.Output.format(
        "# Managed by the microstack Pulumi program.\n"
        "port {0}\n"
        "dir {1}\n"
        "appendonly yes\n"
        "appendfsync everysec\n"
        "requirepass {2}\n",
        PORT,
        DATA_DIRECTORY,
        password,
    )


def _networks(settings: Settings, networks: Networks) -> list[dict[str, object]]:
    attached = [containers.attach(networks.backend, HOSTNAME)]
    if settings.publish_redis and networks.published is not None:
        attached.append(containers.attach(networks.published))
    return attached


def _ports(settings: Settings) -> list[dict[str, object]] | None:
    if not settings.publish_redis:
        return None
    return [
        containers.published_port(PORT, settings.redis_host_port, settings.gateway_bind_address)
    ]


def connection_details(settings: Settings) -> dict[str, pulumi.Input[object]]:
    """The outputs document's `redis` entry: host and port are null unless published."""
    published = settings.publish_redis
    return {
        "host": settings.client_host if published else None,
        "port": settings.redis_host_port if published else None,
    }
