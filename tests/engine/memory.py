"""The stack's memory: the sum of its containers' limits, and what they use now.

Usage comes from the engine's stats (`docker stats --no-stream`; one sample each, `one_shot`, so no
second-long wait per container), less the page cache, as `docker stats` itself shows it.
"""

from __future__ import annotations

from dataclasses import dataclass

import docker.errors
from docker.models.containers import Container

from tests.engine.engine import DockerEngine

MIB = 2**20


@dataclass(frozen=True)
class ContainerMemory:
    name: str
    limit_bytes: int  # 0: no limit
    used_bytes: int | None  # None: not running, or no stats


@dataclass(frozen=True)
class MemoryReport:
    containers: tuple[ContainerMemory, ...]

    @property
    def limit_bytes(self) -> int:
        return sum(container.limit_bytes for container in self.containers)

    @property
    def used_bytes(self) -> int:
        return sum(container.used_bytes or 0 for container in self.containers)

    def render(self) -> str:
        return (
            f"memory: {len(self.containers)} containers, limits {self.limit_bytes / MIB:.0f} MiB "
            f"in total, using {self.used_bytes / MIB:.0f} MiB now"
        )


def memory_report(engine: DockerEngine) -> MemoryReport:
    found = engine.client.containers.list(filters={"label": engine.label_filters})
    return MemoryReport(tuple(sorted((_measure(c) for c in found), key=lambda m: m.name)))


def _measure(container: Container) -> ContainerMemory:
    attrs = container.attrs
    limit = int(attrs["HostConfig"].get("Memory") or 0)
    try:
        stats = container.stats(stream=False, one_shot=True)
    except docker.errors.APIError:
        stats = {}
    memory = stats.get("memory_stats") or {}
    used = memory.get("usage")
    if used is not None:
        cache = (memory.get("stats") or {}).get("total_inactive_file") or (
            memory.get("stats") or {}
        ).get("inactive_file", 0)
        used = int(used) - int(cache)
    return ContainerMemory(str(container.name), limit, used)
