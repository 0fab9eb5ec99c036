"""Types of the service suite's factory fixtures (tests/service/conftest.py), for annotations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient
from servicekit.settings import Settings

from launchers.gunicorn import GunicornServer

SettingsFactory = Callable[..., Settings]
ClientFactory = Callable[..., FlaskClient]
ServiceStarter = Callable[..., GunicornServer]
Query = Callable[..., list[dict[str, Any]]]
