"""PostgreSQL on the internal backend network, following the official image's contract.

The entrypoint initialises an empty data volume as the `postgres` user (uid/gid 999 in the official
image): it reads POSTGRES_PASSWORD_FILE, runs `10-init.sql` (schema and sample data, as superuser)
and `20-create-app-role.sh`, which creates the least-privileged role the services use.
"""

from __future__ import annotations

from infra import data_store, workloads
from infra.config import Settings
from infra.credentials import Credentials
from infra.data_store import DataStoreArgs
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
# TCP on purpose: while initialising, the entrypoint's temporary server listens only on the Unix
# socket, so a socket check would report ready before the schema exists.
HEALTHCHECK = [
    "CMD",
    "pg_isready",
    "--quiet",
    "--host=127.0.0.1",
    f"--port={PORT}",
    f"--username={SUPERUSER}",
    f"--dbname={DATABASE}",
]
# Long enough for a clean shutdown checkpoint instead of crash recovery on the next start.
STOP_SECONDS = 30


def postgres_args(
    settings: Settings, credentials: Credentials, sources: SourceTree
) -> DataStoreArgs:
    return DataStoreArgs(
        image=settings.postgres_image,
        port=PORT,
        data_directory=DATA_DIRECTORY,
        memory_mb=settings.postgres_memory_mb,
        # initdb and the schema run on the first start, before the check can pass.
        healthcheck=workloads.healthcheck(HEALTHCHECK, start_period="60s"),
        host_port=published_port(settings),
        bind_address=settings.gateway_bind_address,
        envs=workloads.environment(
            {
                "POSTGRES_USER": SUPERUSER,
                "POSTGRES_DB": DATABASE,
                "POSTGRES_PASSWORD_FILE": SUPERUSER_PASSWORD_FILE,
                "APP_DB_USER": APP_USER,
                "APP_DB_PASSWORD_FILE": APP_PASSWORD_FILE,
            }
        ),
        files=_files(credentials, sources),
        stop_seconds=STOP_SECONDS,
    )


def _files(credentials: Credentials, sources: SourceTree) -> list[workloads.MountedFile]:
    return [
        workloads.public_file(
            f"{INIT_DIRECTORY}/10-init.sql", sources.read_text("database/init.sql")
        ),
        workloads.public_file(
            f"{INIT_DIRECTORY}/20-create-app-role.sh",
            sources.read_text("database/create-app-role.sh"),
            executable=True,
        ),
        workloads.secret_file(
            APP_PASSWORD_FILE, credentials.postgres_app_password, group=POSTGRES_GROUP
        ),
        workloads.secret_file(
            SUPERUSER_PASSWORD_FILE, credentials.postgres_superuser_password, group=POSTGRES_GROUP
        ),
    ]


def published_port(settings: Settings) -> int | None:
    return settings.postgres_host_port if settings.publish_postgres else None


def connection_details(settings: Settings) -> dict[str, object]:
    """The outputs document's `postgres` entry: host and port are null unless published."""
    return data_store.connection_details(published_port(settings), settings.client_host) | {
        "database": DATABASE,
        "user": APP_USER,
    }
