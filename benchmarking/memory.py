"""Memory of a process tree: the sum of PSS over a gunicorn master and its workers.

PSS (proportional set size) charges each shared page to the processes sharing it in equal parts,
so the sum over a tree counts every page once: the figure that says what one more service costs.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


def tree_pss_mb(root_pid: int) -> float | None:
    """Sum of ``Pss`` in ``/proc/<pid>/smaps_rollup`` over ``root_pid`` and its descendants."""
    pids = [root_pid, *descendants(root_pid)]
    sizes = [pss_kb(pid) for pid in pids]
    if sizes[0] is None:
        return None
    return round(sum(size or 0 for size in sizes) / 1024, 1)


def pss_kb(pid: int) -> int | None:
    try:
        rollup = (PROC / str(pid) / "smaps_rollup").read_text()
    except OSError:
        return None
    for line in rollup.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return None


def descendants(root_pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat_file in PROC.glob("[0-9]*/stat"):
        try:
            stat = stat_file.read_text()
        except OSError:
            continue
        # Fields after "(comm)": state, ppid, ... (proc(5)); comm itself may contain spaces.
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(stat_file.parent.name))
    found, pending = [], [root_pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


@dataclass(frozen=True)
class WorkerPages:
    """A forked worker's anonymous memory against its master's, page by page.

    ``copied``: the master has a page at the same address, but not the same physical page any
    more (the worker wrote to it: a reference count is enough); ``own``: the master has nothing
    there (allocated after the fork); ``shared``: still the master's very page.
    """

    shared_mb: float
    copied_mb: float
    own_mb: float


def worker_pages(worker_pid: int, master_pid: int) -> WorkerPages | None:
    """From ``/proc/<pid>/pagemap``; None when the frame numbers are hidden (they need root)."""
    counts = {"shared": 0, "copied": 0, "own": 0}
    frames_seen = False
    try:
        for start, end in _anonymous_ranges(worker_pid):
            worker = _page_entries(worker_pid, start, end)
            master = _page_entries(master_pid, start, end)
            for mine, theirs in zip(worker, master, strict=True):
                if not mine & _PRESENT:
                    continue
                frames_seen = frames_seen or bool(mine & _FRAME)
                if not theirs & _PRESENT:
                    counts["own"] += 1
                elif (mine & _FRAME) == (theirs & _FRAME):
                    counts["shared"] += 1
                else:
                    counts["copied"] += 1
    except OSError:
        return None
    if not frames_seen:
        return None
    megabytes = {kind: round(pages * _PAGE / 2**20, 1) for kind, pages in counts.items()}
    return WorkerPages(megabytes["shared"], megabytes["copied"], megabytes["own"])


_PAGE = os.sysconf("SC_PAGE_SIZE")
_PRESENT = 1 << 63
_FRAME = (1 << 55) - 1  # bits 0-54: the page frame number (proc(5), pagemap)


def _anonymous_ranges(pid: int) -> list[tuple[int, int]]:
    """The heap and the unnamed private mappings: where Python's objects live."""
    ranges = []
    for line in (PROC / str(pid) / "maps").read_text().splitlines():
        fields = line.split()
        name = fields[5] if len(fields) > 5 else ""
        if name in ("", "[heap]") and fields[1].startswith("rw"):
            start, end = (int(address, 16) for address in fields[0].split("-"))
            ranges.append((start, end))
    return ranges


def _page_entries(pid: int, start: int, end: int) -> tuple[int, ...]:
    """One 64-bit pagemap entry per page of [start, end); zeros past what the process maps."""
    pages = (end - start) // _PAGE
    with open(PROC / str(pid) / "pagemap", "rb") as pagemap:
        pagemap.seek(start // _PAGE * 8)
        data = pagemap.read(pages * 8)
    entries = struct.unpack(f"{len(data) // 8}Q", data)
    return entries + (0,) * (pages - len(entries))
