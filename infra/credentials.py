"""Generated credentials. They exist only as Pulumi secrets: encrypted in state, [secret] in
previews, and handed to containers as files, never as environment variables or image content."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_random as random


@dataclass(frozen=True)
class Secrets:
    postgres_superuser_password: pulumi.Output[str]
    postgres_app_password: pulumi.Output[str]
    redis_password: pulumi.Output[str]


def declare_secrets() -> Secrets:
    return Secrets(
        postgres_superuser_password=_password("postgres-superuser-password"),
        postgres_app_password=_password("postgres-app-password"),
        redis_password=_password("redis-password"),
    )


def _password(name: str) -> pulumi.Output[str]:
    # Letters and digits only: the values travel through a Redis config line, libpq and shell
    # scripts without quoting, and 40 characters from 62 symbols is still ~238 bits of entropy.
    password = random.RandomPassword(
        name, length=40, special=False, min_lower=1, min_upper=1, min_numeric=1
    )
    # The provider marks `result` secret; saying it again keeps that true under any engine or mock.
    return pulumi.Output.secret(password.result)
