"""The application database the service tests run against, and its reset to the sample data."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

from launchers.database import DEFAULT_APP_USER, INIT_SQL, bootstrap_application_database
from launchers.postgres import PostgresServer


@dataclass(frozen=True)
class ApplicationDatabase:
    """A database loaded from database/init.sql, reachable as the application role."""

    host: str
    port: int
    name: str
    user: str
    password: str = field(repr=False)
    password_file: Path

    @classmethod
    def bootstrap(
        cls, server: PostgresServer, name: str, app_role_password_file: Path
    ) -> ApplicationDatabase:
        """Load init.sql into the existing, empty database ``name`` and grant the app role on it."""
        bootstrap_application_database(server, app_role_password_file, database=name)
        return cls(
            host=server.host,
            port=server.port,
            name=name,
            user=DEFAULT_APP_USER,
            password=app_role_password_file.read_text(),
            password_file=app_role_password_file,
        )


def reload_sample_data(server: PostgresServer, database: ApplicationDatabase) -> None:
    """Empty the tables and load init.sql's sample data again, with the sequences restarted."""
    connection = server.connect(database.name)
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute("TRUNCATE orders, products, users RESTART IDENTITY CASCADE")
            cursor.execute(_sample_data_sql())
    finally:
        connection.close()


@functools.cache
def _sample_data_sql() -> str:
    text = INIT_SQL.read_text(encoding="utf-8")
    start = text.index("-- BEGIN SAMPLE DATA")
    return text[start : text.index("-- END SAMPLE DATA", start)]
