"""PostgreSQL on the internal backend network, following the official image's contract.

The entrypoint initialises an empty data volume as the `postgres` user (uid/gid 999 in the official
image): it reads POSTGRES_PASSWORD_FILE, runs `10-init.sql` (schema and sample data, as superuser)
and `20-create-app-role.sh`, which creates the least-privileged role the services use.
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
from infra.sources import SourceTree

HOSTNAME = "postgres"
PORT = 5432
DATABASE = "microstack"
SUPERUSER = "postgres"
APP_USER = "microstack_app"
DATA_DIRECTORY = "/var/lib/postgresql/data"
# The image's `postgres` group: the entrypoint reads the secret files after dropping root.
POSTGRES_GROUP = "999"
SUPERUSER_PASSWORD_FILE = "/run/secrets/postgres-superuser-password"
APP_PASSWORD_FILE = "/run/secrets/postgres-app-password"
INIT_DIRECTORY = "/docker-entrypoint-initdb.d"


@dataclass(frozen=True)
class Postgres:
    container: docker.Container
    volume: docker.Volume


def declare_postgres(
    settings: Settings, scope: StackScope, networks: Networks, secrets: Secrets, sources: SourceTree
) -> Postgres:
    image = containers.remote_image("postgres", settings.postgres_image)
    volume = docker.Volume(
        "postgres-data", name=scope.name("postgres-data"), labels=scope.label_list("postgres")
    )
    container = docker.Container(
        "postgres",
        name=scope.name("postgres"),
        image=image.image_id,
        envs=containers.environment(
            {
                "POSTGRES_USER": SUPERUSER,
                "POSTGRES_DB": DATABASE,
                "POSTGRES_PASSWORD_FILE": SUPERUSER_PASSWORD_FILE,
                "APP_DB_USER": APP_USER,
                "APP_DB_PASSWORD_FILE": APP_PASSWORD_FILE,
            }
        ),
        uploads=_uploads(secrets, sources),
        volumes=[{"volume_name": volume.name, "container_path": DATA_DIRECTORY}],
        networks_advanced=_networks(settings, networks),
        ports=_ports(settings),
        # TCP on purpose: while initialising, the entrypoint's temporary server listens only on the
        # Unix socket, so a socket check would report ready before the schema exists.
        healthcheck=containers.healthcheck(
            [
                "CMD",
                "pg_isready",
                "--quiet",
                "--host=127.0.0.1",
                f"--port={PORT}",
                f"--username={SUPERUSER}",
                f"--dbname={DATABASE}",
            ],
            start_period="60s",
        ),
        restart=containers.RESTART_POLICY,
        memory=settings.postgres_memory_mb,
        # Large enough for a clean shutdown checkpoint instead of crash recovery on the next start.
        stop_timeout=30,
        security_opts=containers.SECURITY_OPTIONS,
        labels=scope.label_list("postgres"),
        wait=True,
        wait_timeout=containers.WAIT_TIMEOUT_SECONDS,
        opts=containers.secret_uploads_option(),
    )
    return Postgres(container=container, volume=volume)


def _uploads(secrets: Secrets, sources: SourceTree) -> list[dict[str, object]]:
    return [
        containers.public_file(
            f"{INIT_DIRECTORY}/10-init.sql", sources.read_text("database/init.sql")
        ),
        containers.public_file(
            f"{INIT_DIRECTORY}/20-create-app-role.sh",
            sources.read_text("database/create-app-role.sh"),
            executable=True,
        ),
        containers.secret_file(
            APP_PASSWORD_FILE, secrets.postgres_app_password, group=POSTGRES_GROUP
        ),
        containers.secret_file(
            SUPERUSER_PASSWORD_FILE, secrets.postgres_superuser_password, group=POSTGRES_GROUP
        ),
    ]


def _networks(settings: Settings, networks: Networks) -> list[dict[str, object]]:
    attached = [containers.attach(networks.backend, HOSTNAME)]
    if settings.publish_postgres and networks.published is not None:
        attached.append(containers.attach(networks.published))
    return attached


def _ports(settings: Settings) -> list[dict[str, object]] | None:
    if not settings.publish_postgres:
        return None
    return [
        containers.published_port(PORT, settings.postgres_host_port, settings.gateway_bind_address)
    ]


def connection_details(settings: Settings) -> dict[str, pulumi.Input[object]]:
    """The outputs document's `postgres` entry: host and port are null unless published."""
    published = settings.publish_postgres
    return {
        "host": settings.client_host if published else None,
        "port": settings.postgres_host_port if published else None,
        "database": DATABASE,
        "user": APP_USER,
    }
