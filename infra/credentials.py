"""Generated credentials. They exist only as Pulumi secrets: encrypted in state, [secret] in
previews, and handed to containers as files, never as environment variables or image content."""

from __future__ import annotations

import pulumi
import pulumi_random as random

from infra.moves import moved_under


class Credentials(pulumi.ComponentResource):
    """The stack's passwords: PostgreSQL's superuser, the services' database role, Redis."""

    postgres_superuser_password: pulumi.Output[str]
    postgres_app_password: pulumi.Output[str]
    redis_password: pulumi.Output[str]

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("microstack:index:Credentials", name, None, opts)
        self.postgres_superuser_password = self._password("postgres-superuser-password")
        self.postgres_app_password = self._password("postgres-app-password")
        self.redis_password = self._password("redis-password")
        # Nothing secret is registered as a component output: the values stay on the resources.
        self.register_outputs({})

    def _password(self, name: str) -> pulumi.Output[str]:
        # Letters and digits only: the values travel through a Redis config line, libpq and shell
        # scripts without quoting, and 40 characters from 62 symbols is still ~238 bits of entropy.
        password = random.RandomPassword(
            name,
            length=40,
            special=False,
            min_lower=1,
            min_upper=1,
            min_numeric=1,
            opts=moved_under(self),
        )
        # The provider marks `result` secret; saying it again keeps that true under any engine.
        return pulumi.Output.secret(password.result)
