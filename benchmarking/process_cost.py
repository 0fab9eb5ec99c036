"""What one request costs the gunicorn tree that serves it: CPU time and context switches.

Both come from /proc, so they need no profiler and no privileges. CPU time per request is what the
machine's drift moves least (a slower machine makes it longer, a busier one does not); context
switches per request show threads queueing on a lock or the GIL (the log handler's lock once
tripled them, json_logging.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from os import sysconf

from benchmarking.memory import PROC, descendants

_TICKS_PER_SECOND = sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class TreeCounters:
    cpu_seconds: float
    context_switches: int

    def per_request(self, later: TreeCounters, requests: int) -> dict[str, float | None]:
        """The cost of each of the ``requests`` served between this snapshot and ``later``."""
        if requests <= 0:
            return {"service_cpu_us_per_request": None, "context_switches_per_request": None}
        return {
            "service_cpu_us_per_request": round(
                (later.cpu_seconds - self.cpu_seconds) * 1e6 / requests, 1
            ),
            "context_switches_per_request": round(
                (later.context_switches - self.context_switches) / requests, 2
            ),
        }


def tree_counters(root_pid: int) -> TreeCounters:
    """The sums over ``root_pid`` and its descendants; a process gone meanwhile counts nothing."""
    cpu_ticks, switches = 0, 0
    for pid in (root_pid, *descendants(root_pid)):
        cpu_ticks += _cpu_ticks(pid)
        switches += _context_switches(pid)
    return TreeCounters(cpu_ticks / _TICKS_PER_SECOND, switches)


def _cpu_ticks(pid: int) -> int:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return 0
    # Fields after "(comm)" (proc(5)): utime and stime are the 14th and 15th fields of the line,
    # the sums over the process's threads.
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


def _context_switches(pid: int) -> int:
    """Voluntary and involuntary switches of every thread (a process's own status counts only its
    main thread)."""
    total = 0
    for status_file in (PROC / str(pid) / "task").glob("*/status"):
        try:
            status = status_file.read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                total += int(line.split()[1])
    return total
