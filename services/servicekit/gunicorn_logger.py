"""gunicorn's logger without its access log: servicekit writes one JSON line per request itself.

gunicorn turns its access log on whenever a logging config is given (our ``logconfig_dict`` makes
its lines JSON), and then builds every request's access-line fields (about twenty "atoms", the
date formatted, headers copied) before the silenced logger drops the line: about 100 us of a
worker's time per request, a tenth of a trivial view's whole cost (README, "Benchmark").
"""

from __future__ import annotations

from gunicorn.glogging import Logger


class NoAccessLogLogger(Logger):
    """gunicorn's error log as configured; ``access()`` returns before building anything."""

    # Shadows the base class's property, which is True whenever a logging config is set.
    access_log_enabled = False
