"""Where a product worker spends its busy time under the cached-item load (py-spy, optional).

``py-spy record --format raw`` writes one collapsed stack per line with its sample count; idle
threads (waiting in the poller or on a socket) are not sampled. Each sample is charged to the first
category that one of its frames matches, from the innermost frame outwards, so the shares add up to
100 % of the busy samples.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

# Category -> source paths as py-spy prints them (relative to sys.path: "redis/client.py"), by
# prefix; a sample goes to the first category its innermost matching frame belongs to.
CATEGORIES: dict[str, tuple[str, ...]] = {
    "Redis round trip (redis-py)": ("redis/", "hiredis/"),
    "PostgreSQL (psycopg2)": ("psycopg2/",),
    "log line (logging, JSON formatter)": (
        "logging/",
        "pythonjsonlogger/",
        "servicekit/json_logging.py",
    ),
    "JSON encode/decode": ("json/", "orjson/", "flask/json/"),
    "request validation (flask-openapi3, pydantic)": ("flask_openapi3/", "pydantic/"),
    "gunicorn: parse request": (
        "gunicorn/http/message.py",
        "gunicorn/http/unreader.py",
        "gunicorn/http/parser.py",
        "gunicorn/http/body.py",
    ),
    "gunicorn: write response": ("gunicorn/http/wsgi.py", "gunicorn/util.py"),
    "gunicorn: worker loop": ("gunicorn/",),
    "Flask/werkzeug request handling": ("flask/", "werkzeug/", "servicekit/", "product_service/"),
}
OTHER = "other"


def py_spy_available() -> bool:
    return shutil.which("py-spy") is not None


def record(pid: int, seconds: float, output: Path, during: Callable[[], object]) -> None:
    """Sample ``pid`` while ``during()`` runs (the load), for ``seconds``."""
    argv = [
        "py-spy",
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(seconds))),
        "--rate",
        "250",
        "--format",
        "raw",
        "--output",
        str(output),
        "--nonblocking",
    ]
    sampler = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    load = threading.Thread(target=during)
    load.start()
    load.join()
    _, errors = sampler.communicate(timeout=seconds + 60)
    if sampler.returncode != 0:
        raise RuntimeError(f"py-spy failed ({sampler.returncode}): {errors.decode().strip()}")


def summarise(raw_profile: Path) -> dict[str, float]:
    """Share of busy samples per category, largest first, in percent."""
    samples: Counter[str] = Counter()
    for line in raw_profile.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples[categorise(stack.split(";"))] += int(count)
    total = sum(samples.values())
    if not total:
        return {}
    return {name: round(100 * n / total, 1) for name, n in samples.most_common()}


def categorise(frames: list[str]) -> str:
    for frame in reversed(frames):  # raw stacks run from the root to the leaf
        # "function (path/to/file.py:123)"; the path may be absolute or relative to sys.path.
        path = "/" + frame[frame.rfind("(") + 1 :]
        for name, prefixes in CATEGORIES.items():
            if any("/" + prefix in path for prefix in prefixes):
                return name
    return OTHER
