"""The record of what a harness run created, so that teardown removes exactly that (and `down` in
another process can too). It holds ids and names only: never a secret."""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

Kind = Literal["service", "container", "secret", "config", "network", "volume", "image"]
# Teardown order: services and containers hold secrets, configs, networks and volumes; images
# last, once nothing runs them.
TEARDOWN_ORDER: tuple[Kind, ...] = (
    "service",
    "container",
    "secret",
    "config",
    "network",
    "volume",
    "image",
)


@dataclass(frozen=True)
class CreatedObject:
    kind: Kind
    id: str
    name: str


class Ledger:
    """Thread-safe (Pulumi registers resources from a thread pool); saved on every change."""

    def __init__(self, path: Path | None = None, objects: list[CreatedObject] | None = None):
        self.path = path
        self._objects = list(objects or [])
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: Path) -> Ledger:
        if not path.exists():
            return cls(path)
        entries = json.loads(path.read_text())
        return cls(path, [CreatedObject(**entry) for entry in entries])

    def add(self, kind: Kind, object_id: str, name: str) -> None:
        with self._lock:
            self._objects.append(CreatedObject(kind, object_id, name))
            self._save()

    def forget(self, created: CreatedObject) -> None:
        with self._lock:
            self._objects = [entry for entry in self._objects if entry != created]
            self._save()

    def forget_where(
        self, kind: Kind, *, object_id: str | None = None, name: str | None = None
    ) -> None:
        """Forget the objects of a kind with this id or this name (a day-two delete)."""
        with self._lock:
            self._objects = [
                entry
                for entry in self._objects
                if entry.kind != kind or (entry.id != object_id and entry.name != name)
            ]
            self._save()

    def objects(self, kind: Kind) -> list[CreatedObject]:
        """Newest first: dependants go before what they depend on."""
        with self._lock:
            return [entry for entry in reversed(self._objects) if entry.kind == kind]

    def _save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps([asdict(entry) for entry in self._objects], indent=2))
