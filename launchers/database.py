"""Bootstrap the application database as the PostgreSQL container does (architecture.md)."""

from __future__ import annotations

import os
from pathlib import Path

from launchers.paths import REPOSITORY_ROOT
from launchers.postgres import PostgresServer
from launchers.processes import run_checked

INIT_SQL = REPOSITORY_ROOT / "database" / "init.sql"
CREATE_APP_ROLE = REPOSITORY_ROOT / "database" / "create-app-role.sh"
DEFAULT_DATABASE = "microstack"
DEFAULT_APP_USER = "microstack_app"


def bootstrap_application_database(
    server: PostgresServer,
    app_password_file: Path,
    database: str = DEFAULT_DATABASE,
    app_user: str = DEFAULT_APP_USER,
) -> None:
    """Load init.sql into the (existing, empty) ``database``, then create the application role.

    The same two files run in the container's /docker-entrypoint-initdb.d, in the same order.
    """
    server.run_sql_file(INIT_SQL, database)
    create_app_role(server, app_password_file, database, app_user)


def create_app_role(
    server: PostgresServer, app_password_file: Path, database: str, app_user: str
) -> None:
    env = {
        **os.environ,
        **server.client_environment(database),
        "POSTGRES_USER": server.superuser,
        "POSTGRES_DB": database,
        "APP_DB_USER": app_user,
        "APP_DB_PASSWORD_FILE": str(app_password_file),
    }
    run_checked(["bash", str(CREATE_APP_ROLE)], env, CREATE_APP_ROLE.name, timeout=60)
