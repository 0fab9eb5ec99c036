"""user-service: users of the shop (`/api/v1/users`)."""

from __future__ import annotations

from flask_openapi3 import OpenAPI
from servicekit.app import create_service_app
from servicekit.settings import Settings

from user_service.routes import users_api


def create_app(settings: Settings | None = None) -> OpenAPI:
    return create_service_app(
        settings,
        service_name="users",
        import_name=__name__,
        apis=[users_api],
        count_query="SELECT count(*) AS users FROM users",
    )
