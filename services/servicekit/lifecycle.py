"""How a replica stops without failing a request: it drains, then gunicorn stops gracefully.

On SIGTERM (`docker stop`, `pulumi up` replacing the container, the local stack's `down`) the
gunicorn master first marks the process tree as draining for `GUNICORN_DRAIN_SECONDS`: `/health`
answers 503 `{"status": "draining"}`, so the gateway's health probe and any balancer that checks it
move away, while every request still arriving is served. Only then does gunicorn's own graceful
stop begin: the workers stop accepting, finish the requests in flight (up to graceful_timeout) and
exit, and the gateway retries idempotent requests that find the replica gone on another replica.

The flag lives in shared memory that the master creates before it forks, so every worker sees it.
"""

from __future__ import annotations

import mmap
import time
from typing import Any

# One byte of anonymous shared memory once shared; None outside gunicorn. An mmap rather than a
# multiprocessing.RawValue: importing multiprocessing would add 1.4 MB to every service's master.
_draining: mmap.mmap | None = None


def share_draining_flag() -> None:
    """Create the flag in shared memory; call in the gunicorn master before workers are forked."""
    global _draining
    # mmap(-1, ...) is MAP_SHARED | MAP_ANONYMOUS: the forked workers see the master's writes.
    _draining = mmap.mmap(-1, 1)


def is_draining() -> bool:
    return _draining is not None and _draining[0] != 0


def drain_before_stopping(arbiter: Any, seconds: float) -> None:
    """Make the arbiter's SIGTERM handler drain for `seconds` before its graceful stop."""
    stop = arbiter.handle_term

    def handle_term() -> None:
        if _draining is not None:
            _draining[0] = 1
        arbiter.log.info("draining for %s s before stopping", seconds)
        time.sleep(seconds)
        stop()

    arbiter.handle_term = handle_term
