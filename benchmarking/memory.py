"""Memory of a process tree: the sum of PSS over a gunicorn master and its workers.

PSS (proportional set size) charges each shared page to the processes sharing it in equal parts,
so the sum over a tree counts every page once: the figure that says what one more service costs.
"""

from __future__ import annotations

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
