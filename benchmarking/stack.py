"""The servers the benchmark measures, all on 127.0.0.1, all stopped on the way out.

- the devstack's ``LocalStack``: PostgreSQL, Redis, the three services, its own gateway;
- a second product service whose Redis is a port nobody listens on (the uncached case);
- the framework ceiling (framework_ceiling.py) under the same gunicorn config;
- two more gateways rendered from the same template with the per-client rate limit raised (one
  client, wrk, is the whole load here): the measurement gateway in front of the product service and
  the framework ceiling, answering the edge ceiling itself, and one in front of the uncached service
  (the template routes by path, and both product services serve the same paths).
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarking.load import REQUEST_TIMEOUT_SECONDS, new_session
from launchers.gateway import Gateway
from launchers.gunicorn import GunicornServer
from launchers.paths import REPOSITORY_ROOT
from launchers.processes import free_port
from launchers.stack import LocalStack

# High enough never to answer 429 to the load generator; the defaults stay 50 / 100.
BENCHMARK_RATE_LIMIT_PER_SECOND = 1_000_000
BENCHMARK_RATE_LIMIT_BURST = 1_000_000
# Where the servers keep their data and logs when the machine has memory-backed storage. Every
# request writes a JSON line (the service) and an access line (the gateway): on a virtual disk
# those appends (journal commits, writeback) also cost the hypervisor's time, which showed as
# steal time and made the same case differ threefold between rounds. In a container the lines go
# to a pipe, never to a disk the service waits on: memory is the nearer stand-in.
MEMORY_BACKED_DIR = Path("/dev/shm")
EDGE_PATH = "/api/v1/edge/item"
SAMPLE_ITEM_PATH = "/api/v1/products/1"


class BenchmarkError(RuntimeError):
    """The set-up is not what the figures would claim (e.g. the "uncached" service has a cache)."""


@dataclass
class BenchmarkStack:
    local: LocalStack
    uncached: GunicornServer
    framework: GunicornServer
    gateway: Gateway
    uncached_gateway: Gateway
    ca_file: Path

    @property
    def products(self) -> GunicornServer:
        return self.local.services["products"]

    def service_trees(self) -> dict[str, GunicornServer]:
        """Every gunicorn the benchmark runs, by the name the report gives it."""
        return {
            **self.local.services,
            "products (no cache)": self.uncached,
            "framework ceiling": self.framework,
        }


@contextmanager
def benchmark_stack(progress: Any, python: str = sys.executable) -> Iterator[BenchmarkStack]:
    """Every server started; ``python``: the interpreter of every gunicorn (service_python.py)."""
    run_dir = Path(tempfile.mkdtemp(prefix="microstack-benchmark-", dir=run_directory_parent()))
    run_dir.chmod(0o755)  # PostgreSQL runs as `postgres` and must traverse it
    local = LocalStack(run_dir, python=python)
    # Held as soon as they exist, so one that started but never got ready is stopped too.
    started: list[GunicornServer | Gateway] = []
    try:
        progress("starting PostgreSQL, Redis, three services and nginx on 127.0.0.1")
        local.up()
        products = local.services["products"]
        uncached = GunicornServer(
            products.package,
            products.service_dir,
            run_dir / "uncached",
            {**products.environment, "REDIS_PORT": str(free_port())},
            python,
        )
        started.append(uncached)
        uncached.start()
        body = sample_item_body(products.url)
        body_file = run_dir / "ceiling-body.json"
        body_file.write_text(body)
        framework = GunicornServer(
            "benchmarking.framework_ceiling",
            REPOSITORY_ROOT,
            run_dir / "framework",
            {"CEILING_BODY_FILE": str(body_file), "LOG_LEVEL": "INFO"},
            python,
        )
        started.append(framework)
        framework.start()
        assert local.gateway is not None
        certificate = local.gateway.certificate
        gateway = Gateway(
            run_dir / "gateway-measured",
            {"products": [products.address], "framework": [framework.address]},
            certificate,
            rate_limit_per_second=BENCHMARK_RATE_LIMIT_PER_SECOND,
            rate_limit_burst=BENCHMARK_RATE_LIMIT_BURST,
            static_bodies={EDGE_PATH: edge_body(body)},
        )
        started.append(gateway)
        gateway.start()
        uncached_gateway = Gateway(
            run_dir / "gateway-uncached",
            {"products": [uncached.address]},
            certificate,
            rate_limit_per_second=BENCHMARK_RATE_LIMIT_PER_SECOND,
            rate_limit_burst=BENCHMARK_RATE_LIMIT_BURST,
        )
        started.append(uncached_gateway)
        uncached_gateway.start()
        ca_file = run_dir / "gateway-ca.pem"
        ca_file.write_text(certificate.certificate_pem)
        yield BenchmarkStack(local, uncached, framework, gateway, uncached_gateway, ca_file)
    finally:
        progress("stopping every server")
        with signals_deferred():
            for server in reversed(started):
                server.stop()
            local.down()
            shutil.rmtree(run_dir, ignore_errors=True)


def run_directory_parent() -> Path:
    """Memory-backed storage if the machine has it (MEMORY_BACKED_DIR), else the temp directory."""
    if MEMORY_BACKED_DIR.is_dir() and os.access(MEMORY_BACKED_DIR, os.W_OK | os.X_OK):
        return MEMORY_BACKED_DIR
    return Path(tempfile.gettempdir())


def sample_item_body(products_url: str) -> str:
    """The cached product's JSON exactly as the service sends it: the ceilings answer the same."""
    with new_session() as session:
        response = session.get(products_url + SAMPLE_ITEM_PATH, timeout=REQUEST_TIMEOUT_SECONDS)
    if response.status_code != 200:
        raise BenchmarkError(f"GET {SAMPLE_ITEM_PATH}: HTTP {response.status_code}")
    return response.text


def edge_body(body: str) -> str:
    """``body`` when nginx can return it verbatim in a quoted string, else filler of its size.

    In nginx's ``return 200 '...'`` a ``$`` starts a variable and ``\\`` or ``'`` need escaping;
    the edge ceiling only needs the same number of bytes.
    """
    if not any(character in body for character in "$\\'"):
        return body
    filler = '{"filler":""}'
    return filler[:-2] + "x" * max(0, len(body.encode()) - len(filler)) + '"}'


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Ignore Ctrl-C and SIGTERM while servers stop: a second one would abandon the rest.

    Stopping is bounded (each launcher escalates to SIGKILL), so the wait is too.
    """
    stop_signals = (signal.SIGINT, signal.SIGTERM)
    previous = {number: signal.signal(number, signal.SIG_IGN) for number in stop_signals}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
