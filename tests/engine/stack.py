"""Bring the declared stack up on dockerd, write its outputs document, and tear it down again.

`up` runs the real Pulumi program (infra/) through `tests.support.pulumi_program.run_program` with
`EngineMocks`, then waits until every container with a healthcheck is healthy. `down` removes what
the ledger recorded and then anything else labelled with the stack (a crashed run's leftovers).
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from launchers.processes import write_secret
from tests.engine import containers, swarm_objects
from tests.engine.engine import DockerEngine
from tests.engine.engine_mocks import EngineMocks
from tests.engine.ledger import TEARDOWN_ORDER, CreatedObject, Ledger
from tests.engine.memory import MemoryReport, memory_report
from tests.engine.removal import REMOVERS, remove_container
from tests.engine.steps import StackState, Summary
from tests.engine.swarm import (
    DEFAULT_ADVERTISE_ADDRESS,
    ensure_swarm,
    is_swarm_manager,
    release_swarm,
    targets_swarm,
)
from tests.support.pulumi_program import run_program

REPOSITORY = Path(__file__).resolve().parents[2]
PROJECT = "microstack"
DEFAULT_STACK = "ci"
DEFAULT_STATE_DIRECTORY = REPOSITORY / ".engine"
# For containers declared without `wait`: how long `up` gives them to become healthy.
HEALTH_TIMEOUT_SECONDS = 180


@dataclass(frozen=True)
class StackFiles:
    """Where one stack's ledger and outputs document live (outside git: .engine/ is ignored)."""

    directory: Path

    @classmethod
    def of(cls, stack: str, state_directory: Path = DEFAULT_STATE_DIRECTORY) -> StackFiles:
        return cls(state_directory / stack)

    @property
    def ledger(self) -> Path:
        return self.directory / "ledger.json"

    @property
    def outputs(self) -> Path:
        return self.directory / "outputs.json"

    @property
    def state(self) -> Path:
        """The last run's resources (tests/engine/steps.py); holds the generated secrets: 0600."""
        return self.directory / "state.json"

    @property
    def swarm(self) -> Path:
        """What the harness changed on the Swarm for this stack (tests/engine/swarm.py)."""
        return self.directory / "swarm.json"


@dataclass
class EngineStack:
    """A stack realized on dockerd: its outputs document, what created it, and the steps the last
    `up` took (`summary`)."""

    engine: DockerEngine
    mocks: EngineMocks
    outputs: dict[str, Any]
    files: StackFiles
    summary: Summary
    memory: MemoryReport

    def apply(
        self, config: Mapping[str, Any] | None = None, *, source: Path | None = None
    ) -> Summary:
        """`pulumi up` of `config` (default: the stack's file) and `source` (default: this
        checkout) on this running stack; this object then describes the updated stack."""
        updated = up(self.engine.stack, config, files=self.files, source=source)
        self.engine, self.mocks, self.outputs = updated.engine, updated.mocks, updated.outputs
        self.summary, self.memory = updated.summary, updated.memory
        return updated.summary

    def container(self, logical: str) -> Any:
        return self.engine.client.containers.get(self.engine.scope.name(logical))

    def recreate(self, logical: str) -> None:
        """Replace one container from its declaration, as `pulumi up` does on a replace."""
        name = self.engine.scope.name(logical)
        spec = self.mocks.containers[name]
        remove_container(self.engine, CreatedObject("container", name, name), spec.stop_timeout)
        container_id = containers.create_container(self.engine, spec)
        containers.wait_until_healthy(self.engine, container_id, HEALTH_TIMEOUT_SECONDS)

    def down(self, *, keep_data: bool = False) -> list[str]:
        self.mocks.close()
        # The document and the state hold the stack's passwords: they go with the stack.
        self.files.outputs.unlink(missing_ok=True)
        self.files.state.unlink(missing_ok=True)
        return tear_down(self.engine, keep_data=keep_data, swarm_record=self.files.swarm)


def read_stack_config(path: Path) -> dict[str, Any]:
    """The `config:` mapping of a Pulumi.<stack>.yaml file."""
    document = yaml.safe_load(path.read_text()) or {}
    return dict(document.get("config") or {})


def up(
    stack: str = DEFAULT_STACK,
    config: Mapping[str, Any] | None = None,
    *,
    files: StackFiles | None = None,
    source: Path | None = None,
    tear_down_on_failure: bool = True,
    advertise_address: str = DEFAULT_ADVERTISE_ADDRESS,
) -> EngineStack:
    """Bring the stack up, or apply the program to it when it is up already (as `pulumi up`).

    `source` is a repository tree to build and upload from (a modified copy of this one); its
    `Pulumi.<stack>.yaml` is the config unless `config` is given. The program itself (infra/) is
    this checkout's: a tree whose infra/ differs is refused, since one process cannot import two.
    A failed first `up` removes what it made (unless `tear_down_on_failure` is off); a failed
    update leaves the stack as far as it got, like `pulumi up`, and the next `up` carries on.
    A `swarm`-target stack runs on the engine's Swarm, initialised (on `advertise_address`) when
    the engine is in none.
    """
    root = check_source(source or REPOSITORY)
    config = read_stack_config(root / f"Pulumi.{stack}.yaml") if config is None else config
    files = files or StackFiles.of(stack)
    engine = DockerEngine(PROJECT, stack, Ledger.load(files.ledger))
    previous = StackState.load(files.state)
    if previous is None:
        # A crashed earlier run may have left objects behind; names are fixed, so they would clash.
        tear_down(engine, swarm_record=files.swarm)
    if targets_swarm(config):
        ensure_swarm(engine, files.swarm, advertise_address)
    mocks = EngineMocks(engine, previous)
    try:
        # In the program's directory, as the CLI runs it: build contexts are relative to it
        # (infra/images.py), so two copies of the repository declare the same inputs.
        with contextlib.chdir(root / "infra"):
            run = run_program(
                mocks, config, project=PROJECT, stack=stack, sources=root, monitor=mocks.monitor
            )
        mocks.close()
        mocks.finish()
        wait_for_health(engine, mocks)
    except BaseException:
        mocks.close()
        if previous is None and tear_down_on_failure:
            tear_down(engine, swarm_record=files.swarm)
        else:
            mocks.day_two.state().save(files.state)
        raise
    mocks.day_two.state().save(files.state)
    # The outputs document holds the passwords (as `--show-secrets` prints them): owner only.
    write_secret(files.outputs, run.document())
    summary = mocks.day_two.summary()
    return EngineStack(engine, mocks, dict(run.outputs), files, summary, memory_report(engine))


def check_source(root: Path) -> Path:
    """`root`, once its infra/ is known to be this checkout's program."""
    root = root.resolve()
    if root != REPOSITORY and program_digest(root) != program_digest(REPOSITORY):
        raise ValueError(
            f"{root}/infra differs from {REPOSITORY}/infra: the harness runs this checkout's "
            "program and builds from the other tree; apply a program change from its own checkout"
        )
    return root


# Never part of a tree the program reads: state, caches and environments.
NOT_COPIED = (".git", ".engine", ".devstack", "__pycache__", "*_cache", "venv", ".venv")


def copy_repository(destination: Path) -> Path:
    """This checkout as a tree `up(source=...)` accepts, to change (a service's code) and apply."""
    shutil.copytree(REPOSITORY, destination, ignore=shutil.ignore_patterns(*NOT_COPIED))
    return destination


def program_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted((root / "infra").rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def wait_for_health(engine: DockerEngine, mocks: EngineMocks) -> None:
    """`up` returns only when every container that has a healthcheck reports healthy."""
    for name, spec in mocks.containers.items():
        attrs = engine.client.api.inspect_container(name)
        if attrs["State"].get("Health") is not None and spec.start:
            timeout = spec.wait_timeout if spec.wait else HEALTH_TIMEOUT_SECONDS
            containers.wait_until_healthy(engine, attrs["Id"], timeout)


def tear_down(
    engine: DockerEngine, *, keep_data: bool = False, swarm_record: Path | None = None
) -> list[str]:
    """Remove the stack's objects, then undo what the harness did to the Swarm (`swarm_record`);
    returns whatever labelled with the stack still remains."""
    kinds = [kind for kind in TEARDOWN_ORDER if not (keep_data and kind == "volume")]
    for kind in kinds:
        found = engine.ledger.objects(kind) + labelled(engine, kind)
        if kind == "service":
            # All at once: each then only waits for its tasks, which stop side by side.
            swarm_objects.remove_services(engine, found)
        for created in found:
            REMOVERS[kind](engine, created)
            engine.ledger.forget(created)
    left = remaining(engine, keep_data=keep_data)
    if swarm_record is not None:
        release_swarm(engine, swarm_record)
    return left


def labelled(engine: DockerEngine, kind: str) -> list[CreatedObject]:
    filters = {"label": engine.label_filters}
    client = engine.client
    if kind in SWARM_KINDS:
        if not is_swarm_manager(engine):
            return []  # no Swarm objects can exist on an engine that is not a manager
        listing = getattr(client.api, SWARM_KINDS[kind])(filters=filters)
        found = [(item["ID"], item["Spec"]["Name"]) for item in listing]
    elif kind == "container":
        found = [(c.id, c.name) for c in client.containers.list(all=True, filters=filters)]
    elif kind == "network":
        found = [(n.id, n.name) for n in client.networks.list(filters=filters)]
    elif kind == "volume":
        found = [(v.name, v.name) for v in client.volumes.list(filters=filters)]
    else:
        # Newest first, like the ledger: the services go before the servicekit base they are built
        # FROM, which Docker refuses to remove while it has dependent child images.
        images = sorted(client.images.list(filters=filters), key=created_at, reverse=True)
        found = [(i.id, i.id) for i in images]
    return [CreatedObject(kind, str(object_id), str(name)) for object_id, name in found]  # type: ignore[arg-type]


SWARM_KINDS = {"service": "services", "secret": "secrets", "config": "configs"}


def created_at(image: Any) -> str:
    """The image's creation time to the nanosecond, as a sortable string.

    The listing's `Created` counts whole seconds, and a child built on a cached parent can share
    its second; `docker inspect` gives RFC 3339 with up to nine fractional digits (zeros trimmed).
    """
    created = str(image.client.api.inspect_image(image.id)["Created"])
    seconds, _, fraction = created.rstrip("Z").partition(".")
    return f"{seconds}.{fraction.ljust(9, '0')}"


def remaining(engine: DockerEngine, *, keep_data: bool = False) -> list[str]:
    kinds = [kind for kind in TEARDOWN_ORDER if not (keep_data and kind == "volume")]
    found = [created for kind in kinds for created in labelled(engine, kind)]
    return [f"{created.kind} {created.name}" for created in found]
