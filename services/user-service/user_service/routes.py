"""`/api/v1/users`: thin routes, with the SQL next to the function that runs it."""

from __future__ import annotations

from typing import Any

import psycopg2.errors
from flask import Response
from servicekit.api import api_blueprint
from servicekit.cache import current_cache
from servicekit.database import one_row, transaction
from servicekit.errors import Conflict
from servicekit.queries import EntityTable
from servicekit.validation import PageQuery

from user_service.models import CreateUser, User, UserList, UserPath

USERS = EntityTable("user", "users", "id, username, email, created_at", User)
users_api = api_blueprint("users", __name__, url_prefix="/api/v1/users")

# Which request field a unique index guards (database/init.sql).
_UNIQUE_FIELDS = {"users_username_key": "username", "users_email_key": "email"}


@users_api.get("", responses={200: UserList})
def list_users(query: PageQuery) -> Response:
    return USERS.cached_page(query)


@users_api.get("/<user_id>", responses={200: User})
def get_user(path: UserPath) -> Response:
    return USERS.cached_item(path.user_id)


@users_api.post("", responses={201: User})
def create_user(body: CreateUser) -> tuple[dict[str, Any], int, dict[str, str]]:
    user = insert_user(body)
    current_cache().invalidate(USERS.entity)
    return user, 201, {"Location": f"/api/v1/users/{user['id']}"}


def insert_user(body: CreateUser) -> dict[str, Any]:
    sql = f"""
        INSERT INTO users (username, email) VALUES (%(username)s, %(email)s)
        RETURNING {USERS.columns}
    """
    try:
        with transaction() as cursor:
            cursor.execute(sql, body.model_dump())
            row = one_row(cursor)
    except psycopg2.errors.UniqueViolation as error:
        field = _UNIQUE_FIELDS.get(error.diag.constraint_name or "", "username")
        raise Conflict(
            f"A user with this {field} already exists", {"field": field}, code="duplicate_user"
        ) from None
    return USERS.serialise(row)
