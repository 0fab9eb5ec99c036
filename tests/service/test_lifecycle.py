"""The draining flag (servicekit/lifecycle.py): the master sets it, the workers it forked see it."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest
from servicekit import lifecycle


def test_a_forked_worker_sees_the_master_start_draining(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lifecycle, "_draining", None)  # restored after the test
    assert not lifecycle.is_draining(), "outside gunicorn nothing drains"
    lifecycle.share_draining_flag()
    arbiter = SimpleNamespace(handle_term=lambda: None, log=SimpleNamespace(info=print))
    lifecycle.drain_before_stopping(arbiter, seconds=0)
    go, wait = os.pipe()
    worker = os.fork()
    if worker == 0:
        # A worker, forked before the master drains: told when it has.
        os.close(wait)
        os.read(go, 1)
        os._exit(0 if lifecycle.is_draining() else 1)
    os.close(go)
    assert not lifecycle.is_draining()
    arbiter.handle_term()  # SIGTERM in the master
    assert lifecycle.is_draining()
    os.write(wait, b"x")
    _, status = os.waitpid(worker, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the worker did not see the master's flag"
