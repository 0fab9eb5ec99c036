"""The one bounded wait: call a probe until its answer is good enough, or fail saying why.

Every "wait until ready / healthy / restarted / logged" in the launchers and the tests goes through
``poll_until``, so each wait has a deadline and a failure message that carries the last answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class PollTimeout(TimeoutError):
    """The probe's answers stayed not good enough until the deadline; ``last`` is the last one."""

    def __init__(self, message: str, last: object) -> None:
        super().__init__(message)
        self.last = last


def poll_until(
    probe: Callable[[], T],
    done: Callable[[T], object] = bool,
    *,
    timeout: float,
    message: str | Callable[[T], str],
    interval: float = 0.1,
) -> T:
    """Call ``probe`` until ``done(answer)`` is true (by default: a truthy answer); return it.

    The probe runs at least once and once more at the deadline, so a slow probe or a long interval
    never costs the last chance. After ``timeout`` seconds raise ``PollTimeout`` with ``message``,
    or ``message(last answer)`` when it is a function. Exceptions from ``probe`` propagate: a probe
    that sees a hopeless state (a process that exited) raises at once instead of waiting.
    """
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if done(answer):
            return answer
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise PollTimeout(message if isinstance(message, str) else message(answer), answer)
        time.sleep(min(interval, remaining))
