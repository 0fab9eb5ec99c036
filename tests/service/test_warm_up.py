"""The requests a service serves itself in gunicorn's master before the fork (warm_up.py): each
refused before a view runs, nothing connected, no log line, the app unchanged after."""

from __future__ import annotations

import dis
import gc
import logging
from types import SimpleNamespace
from typing import Any

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger
from gunicorn.http.message import Request
from gunicorn.workers.gthread import ThreadWorker
from gunicorn.workers.sync import SyncWorker
from servicekit.app import after_fork, shutdown
from servicekit.contract import SERVICES
from servicekit.warm_up import refused_requests, through_gunicorn, warm_up

from launchers.processes import free_port
from tests.support.factories import SettingsFactory

REFUSED = {400, 404, 422}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_warm_up_request_is_refused_before_a_view_runs(
    service: str, make_settings: SettingsFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # Nothing listens on these ports: a request that reached a view would answer 503.
    settings = make_settings(
        service, database_port=free_port(), redis_port=free_port(), log_level="INFO"
    )
    app = __import__(SERVICES[service].package).create_app(settings)
    requests = list(refused_requests(app))

    with caplog.at_level(logging.INFO):
        statuses = warm_up(app)

    assert statuses[0] == 200, "the liveness probe"
    assert set(statuses[1:]) <= REFUSED, list(zip(requests, statuses, strict=True))
    methods = {method for method, *_ in requests}
    assert methods >= {"GET", "POST"}, "every kind of route is warmed"
    assert any(query for _, _, query, _ in requests), "an operation with query parameters"
    assert not [record for record in caplog.records if record.name == "servicekit.request"]
    after_fork(app)  # raises if the warm-up had built the database pool
    with caplog.at_level(logging.INFO), app.test_client() as client:
        assert client.get("/health/live").status_code == 200
    assert [record.path for record in caplog.records if record.name == "servicekit.request"] == [  # type: ignore[attr-defined]
        "/health/live"
    ], "request lines are written again after the warm-up"
    shutdown(app)


def test_a_failing_warm_up_is_logged_and_the_master_carries_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The warm-up only saves memory: it must never keep a service from starting."""
    from servicekit import gunicorn_config, warm_up

    def broken(app: object, serve: object) -> list[int]:
        raise RuntimeError("a route the warm-up did not foresee")

    monkeypatch.setattr(warm_up, "warm_up", broken)
    logged: list[str] = []
    app = SimpleNamespace(extensions={"servicekit.database": None})
    arbiter = SimpleNamespace(
        worker_class=SyncWorker,  # not gthread: warm_up serves through WSGI
        app=SimpleNamespace(wsgi=lambda: app),
        log=SimpleNamespace(exception=logged.append, info=logged.append),
        handle_term=lambda: None,
    )
    stop = arbiter.handle_term
    try:
        gunicorn_config.when_ready(arbiter)
    finally:
        gc.unfreeze()  # when_ready froze this test process's objects

    assert logged == ["warm-up before the fork failed; the workers start without it"]
    assert arbiter.handle_term is not stop, "it went on to make SIGTERM drain first"


def quickened(function: Any) -> bool:
    """CPython 3.11 rewrites a function's bytecode once it has run a few times (RESUME_QUICK)."""
    first = next(dis.get_instructions(function, adaptive=True))
    return first.opname == "RESUME_QUICK"


def test_under_gunicorn_the_requests_take_gunicorn_s_own_request_path(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings("products", database_port=free_port(), redis_port=free_port())
    app = __import__(SERVICES["products"].package).create_app(settings)
    config = Config()
    arbiter = SimpleNamespace(
        worker_class=ThreadWorker,
        app=SimpleNamespace(wsgi=lambda: app),
        timeout=30,
        cfg=config,
        log=Logger(config),
    )
    parse_request_line = Request.parse_request_line
    assert not quickened(parse_request_line), "gunicorn parsed a request in this process already"

    with through_gunicorn(arbiter) as serve:
        statuses = warm_up(app, serve)

    assert statuses == warm_up(app), "the same answers as straight through WSGI"
    assert quickened(parse_request_line), "gunicorn's parser ran in this process"
