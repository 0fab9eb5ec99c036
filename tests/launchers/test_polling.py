"""poll_until: the answer that satisfied it, or a PollTimeout that says why and carries the last."""

from __future__ import annotations

import itertools

import pytest

from launchers.polling import PollTimeout, poll_until


def test_returns_the_first_answer_that_is_done() -> None:
    answers = itertools.count()

    assert (
        poll_until(lambda: next(answers), lambda n: n >= 3, timeout=5, interval=0, message="") == 3
    )


def test_timeout_raises_the_message_built_from_the_last_answer() -> None:
    answers = itertools.count()

    with pytest.raises(PollTimeout, match=r"still \d+") as raised:
        poll_until(
            lambda: next(answers),
            lambda n: n < 0,
            timeout=0.05,
            interval=0.01,
            message=lambda n: f"still {n}",
        )

    assert isinstance(raised.value, TimeoutError)
    assert raised.value.last == int(str(raised.value).split()[-1])


def test_probes_once_more_at_the_deadline_even_with_a_long_interval() -> None:
    calls: list[int] = []

    def probe() -> bool:
        calls.append(1)
        return len(calls) == 2

    assert poll_until(probe, timeout=0.05, interval=10, message="never")
    assert len(calls) == 2


def test_an_error_in_the_probe_ends_the_wait_at_once() -> None:
    def probe() -> bool:
        raise RuntimeError("process exited")

    with pytest.raises(RuntimeError, match="process exited"):
        poll_until(probe, timeout=60, message="never")
