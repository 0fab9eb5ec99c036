"""The local cache's check for waiting input (servicekit/input_check.py), on real sockets."""

from __future__ import annotations

import ctypes
import socket
from collections.abc import Callable, Iterator

import pytest
from servicekit import input_check


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    yield ours, theirs
    ours.close()
    theirs.close()


@pytest.fixture(params=["gil-keeping", "select.poll"])
def make_check(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Callable[[socket.socket], Callable[[], bool]]:
    if request.param == "select.poll":
        monkeypatch.setattr(input_check, "_POLL", None)
    return input_check.input_check


def test_the_check_sees_input_and_a_hang_up_and_nothing_else(
    pair: tuple[socket.socket, socket.socket],
    make_check: Callable[[socket.socket], Callable[[], bool]],
) -> None:
    ours, theirs = pair
    check = make_check(ours)
    assert check() is False
    theirs.sendall(b"+PONG\r\n")
    assert check() is True
    assert ours.recv(64) == b"+PONG\r\n"
    assert check() is False
    theirs.close()  # EOF: the reader must look, and meet it
    assert check() is True


def test_the_poll_keeps_the_gil_on_linux() -> None:
    """A fallback to select.poll would work, but let go of the GIL on every cached read."""
    poll = input_check._POLL
    assert poll is not None
    assert poll._flags_ & ctypes._FUNCFLAG_PYTHONAPI  # type: ignore[attr-defined]


def test_nothing_is_waiting_without_a_socket() -> None:
    assert input_check.nothing_waiting() is False
