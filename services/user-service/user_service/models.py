"""Request and response models: they validate input and generate the OpenAPI document."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, StringConstraints, field_validator
from servicekit.validation import EntityId, RequestBody

Username = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=3, max_length=50, pattern=r"^[A-Za-z0-9_.-]+$"
    ),
]
# Deliberately loose: the only real email check is sending mail, which is not this service's job.
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        max_length=254,
        pattern=r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+$",
    ),
]


class CreateUser(RequestBody):
    username: Username
    email: Email

    @field_validator("email")
    @classmethod
    def lowercase_email(cls, email: str) -> str:
        return email.lower()


class User(BaseModel):
    id: int
    username: str
    email: str
    created_at: datetime


class UserList(BaseModel):
    items: list[User]
    limit: int
    offset: int
    total: int


class UserPath(BaseModel):
    user_id: EntityId
