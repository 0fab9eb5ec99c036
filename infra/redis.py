"""Redis on the internal backend network: password required, append-only file on a volume.

The password lives in the uploaded config file only. The healthcheck reads it from there into
REDISCLI_AUTH inside the check's own shell, so it never shows in `docker inspect` (env or command).
"""

from __future__ import annotations

import pulumi

from infra import data_store, workloads
from infra.config import Settings
from infra.credentials import Credentials
from infra.data_store import DataStoreArgs

HOSTNAME = "redis"
PORT = 6379
CONFIG_FILE = "/usr/local/etc/redis/redis.conf"
DATA_DIRECTORY = "/data"
# The official image's `redis` group: redis reads its config after the entrypoint drops root.
REDIS_GROUP = "999"
# Redis counts only its data against maxmemory: a quarter of the container's limit stays free for
# the process and the copy-on-write pages of an AOF rewrite, so the kernel does not OOM-kill it.
# volatile-lru evicts only keys with a TTL (cached items and lists), never the list generation
# counters: losing one restarts it at 0, and a stale list cached under an old number reappears.
MAXMEMORY_POLICY = "volatile-lru"
HEALTHCHECK = (
    f"REDISCLI_AUTH=\"$(sed -n 's/^requirepass //p' {CONFIG_FILE})\" "
    f"redis-cli -h 127.0.0.1 -p {PORT} ping | grep -q PONG"
)


def redis_args(settings: Settings, credentials: Credentials) -> DataStoreArgs:
    return DataStoreArgs(
        image=settings.redis_image,
        port=PORT,
        data_directory=DATA_DIRECTORY,
        memory_mb=settings.redis_memory_mb,
        healthcheck=workloads.healthcheck(["CMD-SHELL", HEALTHCHECK], start_period="10s"),
        host_port=published_port(settings),
        bind_address=settings.gateway_bind_address,
        command=["redis-server", CONFIG_FILE],
        files=[
            workloads.secret_file(
                CONFIG_FILE,
                redis_config(credentials.redis_password, settings.redis_memory_mb),
                group=REDIS_GROUP,
            )
        ],
    )


def redis_config(password: pulumi.Output[str], memory_mb: int) -> pulumi.Output[str]:
    # Output.format keeps the result secret because the password is.
    return pulumi.Output.format(
        "# Managed by the microstack Pulumi program.\n"
        "port {0}\n"
        "dir {1}\n"
        "appendonly yes\n"
        "appendfsync everysec\n"
        "maxmemory {2}mb\n"
        "maxmemory-policy {3}\n"
        "requirepass {4}\n",
        PORT,
        DATA_DIRECTORY,
        memory_mb * 3 // 4,
        MAXMEMORY_POLICY,
        password,
    )


def published_port(settings: Settings) -> int | None:
    return settings.redis_host_port if settings.publish_redis else None


def connection_details(settings: Settings) -> dict[str, object]:
    """The outputs document's `redis` entry: host and port are null unless published."""
    return data_store.connection_details(published_port(settings), settings.client_host)
