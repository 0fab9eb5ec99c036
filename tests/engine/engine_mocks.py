"""`EngineMocks`: the Pulumi program's resources, created for real on dockerd instead of faked.

The program runs unchanged through `tests.support.pulumi_program.run_program`; only what happens
at each registration differs from the unit tests' mocks. A resource type the harness does not know
is an error, like an argument it does not implement.

On a stack that is already up, each registration takes the step `tests.engine.steps.DayTwo`
decides (stackplan's diff and rules): nothing for an unchanged resource (its previous id and
outputs, generated passwords included, are handed back), an update in place, or a replacement
(delete-before-replace for containers). `finish()` then deletes what left the program.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import docker.errors
import pulumi
from pulumi.runtime.mocks import MockMonitor

from stackplan.child import CapturingMonitor
from stackplan.diff import Action
from stackplan.fakes import unwrap_secrets
from stackplan.model import ROOT_STACK_TYPE, Resource
from tests.engine import containers, docker_objects, generated, swarm_objects
from tests.engine.containers import ContainerSpec
from tests.engine.engine import DockerEngine
from tests.engine.inputs import ResourceInputs, UnsupportedInputError
from tests.engine.ledger import CreatedObject, Kind
from tests.engine.removal import REMOVERS, remove_container
from tests.engine.steps import DayTwo, Decision, StackState, StateEntry
from tests.engine.swarm_objects import ServiceSpec

Handler = Callable[[DockerEngine, ResourceInputs], tuple[str, dict[str, Any]]]
CONTAINER = "docker:index/container:Container"
IMAGE = "docker:index/image:Image"
SERVICE = "docker:index/service:Service"
# Resources with a Docker object of their own, and how the ledger files it.
KINDS: dict[str, Kind] = {
    SERVICE: "service",
    "docker:index/secret:Secret": "secret",
    "docker:index/serviceConfig:ServiceConfig": "config",
    CONTAINER: "container",
    "docker:index/network:Network": "network",
    "docker:index/volume:Volume": "volume",
    IMAGE: "image",
}
# Container inputs that `docker update` changes on the running container, as the provider's
# resourceDockerContainerUpdate does (stackplan/rules.py); the other in-place updates the rules
# allow leave the running container as it is.
LIVE_UPDATES = ("memory", "memorySwap", "restart", "maxRetryCount", "cpuShares", "cpuSet")
SECRET_OUTPUTS = {
    "random:index/randomPassword:RandomPassword": ("result",),
    "tls:index/privateKey:PrivateKey": ("privateKeyPem", "privateKeyPemPkcs8"),
}


class HarnessClosedError(RuntimeError):
    """A registration arrived after teardown began (the program failed elsewhere meanwhile)."""


class RegistrationMonitor(CapturingMonitor):
    """stackplan's capturing monitor, telling the mocks which resource (URN, aliases, inputs as
    the diff sees them) the `new_resource` call in progress on this thread is for."""

    def __init__(self, mocks: pulumi.runtime.Mocks, salt: str) -> None:
        super().__init__(mocks, salt)
        self._current = threading.local()

    def RegisterResource(self, request: Any) -> Any:
        if request.type == ROOT_STACK_TYPE:
            return MockMonitor.RegisterResource(self, request)
        self._current.request = request
        self._current.resource = None
        try:
            response = MockMonitor.RegisterResource(self, request)
        finally:
            self._current.request = None
        return response

    def registering(self) -> Resource | None:
        """The resource being registered on this thread; None outside a registration (a test
        calling `new_resource` directly)."""
        request = getattr(self._current, "request", None)
        if request is None:
            return None
        if self._current.resource is None:
            # Captured here, not before the base class's RegisterResource: it has set up the
            # thread's event loop that deserializing the inputs needs.
            urn = self.make_urn(request.parent, request.type, request.name)
            self._current.resource = self.capture(request, urn)
            self.captured.append(self._current.resource)
        resource: Resource = self._current.resource
        return resource


class EngineMocks(pulumi.runtime.Mocks):
    def __init__(self, engine: DockerEngine, previous: StackState | None = None) -> None:
        self.engine = engine
        self.day_two = DayTwo(previous)
        self.monitor = RegistrationMonitor(self, self.day_two.salt)
        self._superseded_images: list[str] = []  # image IDs an in-place rebuild left behind
        self.containers: dict[str, ContainerSpec] = {}  # by container name, for recreation
        self.services: dict[str, ServiceSpec] = {}  # by Swarm service name
        self.secret_values: list[str] = []  # generated secrets, for the leak checks
        self._handlers: dict[str, Handler] = {
            "docker:index/network:Network": docker_objects.network,
            "docker:index/volume:Volume": docker_objects.volume,
            "docker:index/image:Image": docker_objects.build_image,
            "docker:index/remoteImage:RemoteImage": docker_objects.remote_image,
            "docker:index/container:Container": self._container,
            SERVICE: self._service,
            "docker:index/secret:Secret": swarm_objects.secret,
            "docker:index/serviceConfig:ServiceConfig": swarm_objects.service_config,
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
        resource = self.monitor.registering()
        decision = self.day_two.decide(resource) if resource else Decision(None, None)
        if not args.custom:
            # Component resources have no engine-level object.
            if resource:
                self.day_two.record(resource, decision, None, {})
            return None, {}
        if args.typ not in self._handlers:
            raise UnsupportedInputError(
                f"resource type {args.typ} ({args.name}) is not implemented"
            )
        inputs = unwrap_secrets(dict(args.inputs))
        with self._registration():
            object_id, outputs = self._apply(args.typ, inputs, decision)
        self._remember_secrets(args.typ, outputs)
        if resource:
            self.day_two.record(resource, decision, object_id, outputs)
        return object_id, inputs | outputs

    def finish(self) -> None:
        """The end of an update: delete what left the program and the old halves of
        create-before-delete replacements (dependants first), then images a rebuild left."""
        for entry in self.day_two.deletions():
            delete_object(self.engine, entry)
            self.day_two.deleted(entry)
        for image_id in self._superseded_images:
            # The provider leaves the old build on the engine, untagged; the harness tidies it
            # unless a container still runs it.
            with contextlib.suppress(docker.errors.APIError):
                self.engine.client.images.remove(image_id)
                self.engine.ledger.forget_where("image", object_id=image_id)

    def _apply(
        self, resource_type: str, inputs: dict[str, Any], decision: Decision
    ) -> tuple[str, dict[str, Any]]:
        step, previous = decision.step, decision.previous
        if previous is not None and step is None:
            if resource_type == CONTAINER:
                self._container_spec(inputs)  # for recreate() and the health wait
            if resource_type == SERVICE:
                self._service_spec(inputs)
            return str(previous.id), dict(previous.outputs)
        if step is not None and step.provider_decides:
            unknown = sorted({change.path for change in step.changes if change.rule is None})
            raise UnsupportedInputError(
                f"{step.name}: no rule in stackplan/rules.py says whether a change of "
                f"{', '.join(unknown)} ({resource_type}) updates or replaces it; add one (with "
                "the provider source it comes from) rather than guess"
            )
        if previous is not None and step is not None and step.action is Action.UPDATE:
            return self._update(resource_type, inputs, decision)
        if previous is not None and step is not None and step.action is Action.REPLACE:
            if step.delete_before_replace:
                delete_object(self.engine, previous)
                self.day_two.deleted_first(decision)
            elif resource_type in ("docker:index/network:Network", "docker:index/volume:Volume"):
                raise UnsupportedInputError(
                    f"{step.name}: replacing a {resource_type} creates the new one before "
                    "deleting the old, under the same Docker name: Docker refuses a second "
                    "network of that name and hands back the old volume (which the delete at the "
                    "end would then remove). The harness refuses; declare delete_before_replace."
                )
        return self._handlers[resource_type](self.engine, ResourceInputs(resource_type, inputs))

    def _update(
        self, resource_type: str, inputs: dict[str, Any], decision: Decision
    ) -> tuple[str, dict[str, Any]]:
        step, previous = decision.step, decision.previous
        assert step is not None and previous is not None and previous.id is not None
        if resource_type == CONTAINER:
            spec = self._container_spec(inputs)
            changed = {change.path.split(".")[0].split("[")[0] for change in step.changes}
            if changed & set(LIVE_UPDATES):
                containers.update_resources(self.engine, previous.id, spec)
            return previous.id, containers.container_outputs(self.engine, previous.id)
        if resource_type == SERVICE:
            return swarm_objects.update_service(
                self.engine, previous.id, self._service_spec(inputs)
            )
        object_id, outputs = self._handlers[resource_type](
            self.engine, ResourceInputs(resource_type, inputs)
        )
        if resource_type == IMAGE and object_id != previous.id:
            # pulumi-docker rebuilds an Image in place: same resource, new image ID.
            self._superseded_images.append(previous.id)
        return object_id, outputs

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

    def _service(self, engine: DockerEngine, inputs: ResourceInputs) -> tuple[str, dict]:
        spec = swarm_objects.parse_service(inputs)
        self.services[spec.name] = spec
        return swarm_objects.create_service(engine, spec)

    def _service_spec(self, inputs: dict[str, Any]) -> ServiceSpec:
        spec = swarm_objects.parse_service(ResourceInputs(SERVICE, inputs))
        self.services[spec.name] = spec
        return spec

    def _container_spec(self, inputs: dict[str, Any]) -> ContainerSpec:
        spec = containers.parse_container(ResourceInputs(CONTAINER, inputs))
        self.containers[spec.name] = spec
        return spec

    def _generated(self, generate: Callable[[ResourceInputs], dict[str, Any]]) -> Handler:
        def handler(_: DockerEngine, inputs: ResourceInputs) -> tuple[str, dict[str, Any]]:
            outputs = generate(inputs)
            return secrets.token_hex(8), outputs

        return handler

    def _remember_secrets(self, resource_type: str, outputs: dict[str, Any]) -> None:
        for key in SECRET_OUTPUTS.get(resource_type, ()):
            if outputs.get(key):
                self.secret_values.append(str(outputs[key]))


def delete_object(engine: DockerEngine, entry: StateEntry) -> None:
    """Delete the Docker object behind a previous run's resource, as the provider's Delete does;
    generated values and registry images (`keep_locally`) have none."""
    kind = KINDS.get(entry.resource.type)
    if kind is None or entry.id is None:
        return
    name = str(entry.outputs.get("name") or entry.id)
    if kind == "container":
        # By name, which is fixed and stack-scoped: `EngineStack.recreate` may have given the
        # container a new id since the state was written.
        grace = entry.resource.inputs.get("destroyGraceSeconds")
        remove_container(
            engine, CreatedObject(kind, name, name), None if grace is None else int(grace)
        )
        engine.ledger.forget_where(kind, name=name)
        return
    # An image by ID: its tag may already name the image that replaced it.
    REMOVERS[kind](engine, CreatedObject(kind, entry.id, entry.id if kind == "image" else name))
    engine.ledger.forget_where(kind, object_id=entry.id)
