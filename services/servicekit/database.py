"""PostgreSQL access: one ThreadedConnectionPool per process, one connection per request.

The pool is built lazily by the first request, after gunicorn's fork (libpq connections must never
cross a fork) and without failing start-up while PostgreSQL is still booting. Routes borrow the
request's connection through ``transaction()``; ``teardown_appcontext`` hands it back.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import psycopg2
import psycopg2.extras
from flask import Flask, current_app, g
from psycopg2.extensions import TRANSACTION_STATUS_IDLE
from psycopg2.extensions import connection as Connection
from psycopg2.extras import RealDictCursor as Cursor
from psycopg2.pool import ThreadedConnectionPool

from servicekit.settings import Settings

# A statement on a dead connection raises one of these; the connection is then dropped.
BROKEN_CONNECTION_ERRORS = (psycopg2.OperationalError, psycopg2.InterfaceError)

# statement_timeout bounds a query the server is running, not a server that has vanished: on a host
# that silently drops packets, a pooled connection would wait for TCP to give up (~15 minutes).
# Both settings below are answered by the peer's kernel, not by PostgreSQL, so a slow but live
# server never trips them. tcp_user_timeout: data we sent (a query, a ping) unacknowledged this long
# means the host is gone. Keepalives: while we wait for a reply (up to statement_timeout), an idle
# connection is probed after 5 s and dropped after 3 unanswered probes a second apart (~8 s).
TCP_USER_TIMEOUT_MS = 5000
KEEPALIVE_SETTINGS = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 1,
    "keepalives_count": 3,
}


class Database:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._pool: ThreadedConnectionPool | None = None
        self._lock = threading.Lock()

    def _connection_arguments(self) -> dict[str, Any]:
        settings = self._settings
        return {
            "host": settings.database_host,
            "port": settings.database_port,
            "dbname": settings.database_name,
            "user": settings.database_user,
            "password": settings.database_password,
            "connect_timeout": settings.database_connect_timeout_seconds,
            "application_name": settings.service_name,
            "options": f"-c statement_timeout={settings.database_statement_timeout_ms}",
            "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
            **KEEPALIVE_SETTINGS,
        }

    def _get_pool(self) -> ThreadedConnectionPool:
        with self._lock:
            if self._pool is None:
                # Built with minconn=0 so that nothing connects here; minconn is then raised to
                # maxconn because putconn() closes every connection beyond minconn. getconn()
                # fails instead of waiting, hence one connection per gthread thread.
                size = self._settings.database_pool_size
                self._pool = ThreadedConnectionPool(0, size, **self._connection_arguments())
                self._pool.minconn = size
            return self._pool

    def after_fork(self) -> None:
        """In a new worker process: nothing may have connected in the parent (app.after_fork)."""
        if self._pool is not None:
            # Closing it here would close the parent's connections too (libpq sends Terminate).
            raise RuntimeError("the database pool was built before the fork")
        self._lock = threading.Lock()

    def acquire(self) -> Connection:
        """A live connection: pooled ones are pinged, since PostgreSQL may have restarted."""
        pool = self._get_pool()
        # Bounded: each attempt either returns or discards one stale pooled connection.
        for _ in range(self._settings.database_pool_size + 1):
            connection = pool.getconn()
            if _is_alive(connection):
                return connection
            pool.putconn(connection, close=True)
        raise psycopg2.OperationalError("no live database connection")

    def is_reachable(self) -> bool:
        """Borrow a live connection (acquire pings it) and give it back. Blocks up to libpq's
        connect_timeout, or longer on a host that drops packets: callers bound it (health.py)."""
        try:
            self.release(self.acquire())
        except psycopg2.Error:
            return False
        return True

    def release(self, connection: Connection) -> None:
        broken = connection.closed != 0
        if not broken and connection.info.transaction_status != TRANSACTION_STATUS_IDLE:
            try:
                connection.rollback()
            except BROKEN_CONNECTION_ERRORS:
                broken = True
        self._get_pool().putconn(connection, close=broken)

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.closeall()
                self._pool = None


def _is_alive(connection: Connection) -> bool:
    """Ping; the transaction it opens is the one the request then uses (no extra round trip)."""
    if connection.closed:
        return False
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except BROKEN_CONNECTION_ERRORS:
        return False
    return True


def init_database(app: Flask, database: Database) -> None:
    app.extensions["servicekit.database"] = database
    app.teardown_appcontext(_release_request_connection)


def current_database() -> Database:
    database: Database = current_app.extensions["servicekit.database"]
    return database


def request_connection() -> Connection:
    if "database_connection" not in g:
        g.database_connection = current_database().acquire()
    connection: Connection = g.database_connection
    return connection


def _release_request_connection(_error: BaseException | None) -> None:
    connection = g.pop("database_connection", None)
    if connection is not None:
        current_database().release(connection)


@contextmanager
def transaction() -> Iterator[Cursor]:
    """A cursor returning dict rows inside one transaction: commit on success, else roll back."""
    connection = request_connection()
    try:
        with connection.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cursor:
            yield cursor
        connection.commit()
    except BaseException:
        # A broken connection cannot roll back; release() then drops it from the pool.
        if not connection.closed:
            with suppress(*BROKEN_CONNECTION_ERRORS):
                connection.rollback()
        raise


def one_row(cursor: Cursor) -> dict[str, Any]:
    """The row a statement always returns: `INSERT ... RETURNING`, `SELECT EXISTS (...)`, a read
    of a row the same transaction has just seen. None here is a bug, not a client error."""
    row = cursor.fetchone()
    if row is None:
        raise RuntimeError(f"expected a row from: {cursor.query!r}")
    return row
