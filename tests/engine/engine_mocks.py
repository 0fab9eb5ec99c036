"""`EngineMocks`: the Pulumi program's resources, created for real on dockerd instead of faked.

The program runs unchanged through `tests.support.pulumi_program.run_program`; only what happens
at each registration differs from the unit tests' mocks. A resource type the harness does not know
is an error, like an argument it does not implement.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pulumi

from stackplan.fakes import unwrap_secrets
from tests.engine import containers, docker_objects, generated
from tests.engine.containers import ContainerSpec
from tests.engine.engine import DockerEngine
from tests.engine.inputs import ResourceInputs, UnsupportedInputError

Handler = Callable[[DockerEngine, ResourceInputs], tuple[str, dict[str, Any]]]
SECRET_OUTPUTS = {
    "random:index/randomPassword:RandomPassword": ("result",),
    "tls:index/privateKey:PrivateKey": ("privateKeyPem", "privateKeyPemPkcs8"),
}


class HarnessClosedError(RuntimeError):
    """A registration arrived after teardown began (the program failed elsewhere meanwhile)."""


class EngineMocks(pulumi.runtime.Mocks):
    def __init__(self, engine: DockerEngine) -> None:
        self.engine = engine
        self.containers: dict[str, ContainerSpec] = {}  # by container name, for recreation
        self.secret_values: list[str] = []  # generated secrets, for the leak checks
        self._handlers: dict[str, Handler] = {
            "docker:index/network:Network": docker_objects.network,
            "docker:index/volume:Volume": docker_objects.volume,
            "docker:index/image:Image": docker_objects.build_image,
            "docker:index/remoteImage:RemoteImage": docker_objects.remote_image,
            "docker:index/container:Container": self._container,
            "random:index/randomPassword:RandomPassword": self._generated(
                generated.random_password
            ),
            "tls:index/privateKey:PrivateKey": self._generated(generated.private_key),
            "tls:index/selfSignedCert:SelfSignedCert": self._generated(generated.self_signed_cert),
        }
        self._lock = threading.Condition()
        self._in_flight = 0
        self._closed = False

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        if not args.custom:
            return None, {}  # component resources have no engine-level object
        handler = self._handlers.get(args.typ)
        if handler is None:
            raise UnsupportedInputError(
                f"resource type {args.typ} ({args.name}) is not implemented"
            )
        inputs = unwrap_secrets(dict(args.inputs))
        with self._registration():
            object_id, outputs = handler(self.engine, ResourceInputs(args.typ, inputs))
        self._remember_secrets(args.typ, outputs)
        return object_id, inputs | outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        raise UnsupportedInputError(f"function {args.token} is not implemented by the harness")

    def close(self, timeout: float = 300) -> None:
        """Refuse new registrations and wait (bounded) for those in progress to finish."""
        with self._lock:
            self._closed = True
            self._lock.wait_for(lambda: self._in_flight == 0, timeout=timeout)

    @contextmanager
    def _registration(self) -> Iterator[None]:
        """Counts registrations in progress, so that teardown never races a half-made object."""
        with self._lock:
            if self._closed:
                raise HarnessClosedError("the harness is tearing down")
            self._in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1
                self._lock.notify_all()

    def _container(self, engine: DockerEngine, inputs: ResourceInputs) -> tuple[str, dict]:
        spec = containers.parse_container(inputs)
        self.containers[spec.name] = spec
        return containers.realize(engine, spec)

    def _generated(self, generate: Callable[[ResourceInputs], dict[str, Any]]) -> Handler:
        def handler(_: DockerEngine, inputs: ResourceInputs) -> tuple[str, dict[str, Any]]:
            outputs = generate(inputs)
            return secrets.token_hex(8), outputs

        return handler

    def _remember_secrets(self, resource_type: str, outputs: dict[str, Any]) -> None:
        for key in SECRET_OUTPUTS.get(resource_type, ()):
            if outputs.get(key):
                self.secret_values.append(str(outputs[key]))
