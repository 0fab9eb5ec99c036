"""``python -m scripts.benchmark``: figures and ratios for the cache, the gateway and orders.

It starts its own throwaway stack on 127.0.0.1 (the devstack's ``LocalStack``: PostgreSQL, Redis,
the three services under gunicorn, nginx over HTTPS) plus a second product service whose Redis is
a closed port, measures, and stops every server on the way out, also on error or Ctrl-C.

1. Cache: GET /api/v1/products/<id> and list GETs against the product service directly (the
   gateway's per-client rate limit would otherwise be what is measured), cache warm vs unavailable.
2. Gateway: a paced sequential run, under the rate limit, direct vs through nginx over HTTPS.
3. Orders: concurrent POSTs against one product with limited stock; throughput and correctness.

Every run is bounded in request count and wall time. Performance is reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import FrameType
from typing import Any

import psycopg2.extensions
import requests
from servicekit.settings import ServerSettings

from launchers.database import DEFAULT_DATABASE
from launchers.gunicorn import GunicornServer
from launchers.processes import MissingBinaryError, free_port
from launchers.stack import LocalStack, StackError

ITEM_IDS = tuple(range(1, 11))  # the sample products of database/init.sql
LIST_QUERIES = (
    "?limit=20",
    "?category=electronics",
    "?category=books",
    "?limit=5&offset=5",
    "?category=furniture&limit=10",
)
REQUEST_TIMEOUT_SECONDS = 10.0
CONNECTION_ERROR = 0  # the status recorded when no HTTP answer came back
# Set on the way out: client threads stop after their current request.
STOP = threading.Event()


class BenchmarkError(RuntimeError):
    """The set-up is not what the figures would claim (e.g. the "uncached" service has a cache)."""


@dataclass(frozen=True)
class Options:
    requests: int = 2000
    threads: int = 8
    rounds: int = 4
    orders: int = 200
    stock: int = 100
    gateway_rate: float = 40.0
    gateway_seconds: float = 5.0
    time_limit: float = 60.0
    json_only: bool = False


OPTION_NAMES = frozenset(option.name for option in fields(Options))
QUICK = {
    "requests": 40,
    "threads": 4,
    "rounds": 2,
    "orders": 12,
    "stock": 5,
    "gateway_seconds": 0.5,
}


@dataclass
class Measurement:
    """What one case saw: per-request latency (seconds) and status, and the run's wall time."""

    case: str
    expected: frozenset[int]
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    elapsed: float = 0.0
    truncated: bool = False

    def record(self, latency: float, status: int) -> None:
        self.latencies.append(latency)
        self.statuses[status] += 1

    def merge(self, other: Measurement) -> None:
        self.latencies.extend(other.latencies)
        self.statuses.update(other.statuses)
        self.truncated = self.truncated or other.truncated

    def summary(self) -> dict[str, Any]:
        done = len(self.latencies)
        ordered = sorted(self.latencies)
        unexpected = sum(n for status, n in self.statuses.items() if status not in self.expected)
        return {
            "case": self.case,
            "requests": done,
            "errors": unexpected,
            "requests_per_second": round(done / self.elapsed, 1) if self.elapsed else 0.0,
            "p50_ms": percentile_ms(ordered, 50),
            "p95_ms": percentile_ms(ordered, 95),
            "p99_ms": percentile_ms(ordered, 99),
            "statuses": {str(status): n for status, n in sorted(self.statuses.items())},
            "truncated": self.truncated,
        }


def percentile_ms(ordered: Sequence[float], percent: float) -> float | None:
    """Nearest-rank percentile of sorted latencies in seconds, as milliseconds."""
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * percent // 100))  # ceil without floats drifting
    return round(ordered[int(rank) - 1] * 1000, 2)


# --- HTTP clients -------------------------------------------------------------------------------


def new_session(ca_file: Path | None = None) -> requests.Session:
    """A keep-alive session; ``trust_env`` off so no proxy or CA variable changes where it goes."""
    session = requests.Session()
    session.trust_env = False
    if ca_file is not None:
        session.verify = str(ca_file)
    return session


def timed_request(
    session: requests.Session, method: str, url: str, body: dict[str, Any] | None = None
) -> tuple[float, int]:
    started = time.perf_counter()
    try:
        response = session.request(method, url, json=body, timeout=REQUEST_TIMEOUT_SECONDS)
        response.content  # noqa: B018 - read the whole body inside the timed span
        status = response.status_code
    except requests.RequestException:
        status = CONNECTION_ERROR
    return time.perf_counter() - started, status


@dataclass(frozen=True)
class Load:
    """``total`` requests spread over ``threads`` clients; request ``i`` goes to ``url_of(i)``."""

    url_of: Callable[[int], str]
    total: int
    threads: int
    time_limit: float
    method: str = "GET"
    body_of: Callable[[int], dict[str, Any]] | None = None


def run_concurrent(case: str, load: Load, expected: frozenset[int]) -> Measurement:
    """Each thread has its own session and takes every ``threads``-th request."""
    deadline = time.monotonic() + load.time_limit
    parts = [Measurement(case, expected) for _ in range(load.threads)]
    workers = [
        threading.Thread(target=_client, args=(load, index, deadline, parts[index]), daemon=True)
        for index in range(load.threads)
    ]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    result = Measurement(case, expected, elapsed=time.perf_counter() - started)
    for part in parts:
        result.merge(part)
    return result


def _client(load: Load, first: int, deadline: float, into: Measurement) -> None:
    with new_session() as session:
        for index in range(first, load.total, load.threads):
            if STOP.is_set() or time.monotonic() > deadline:
                into.truncated = True
                return
            body = load.body_of(index) if load.body_of else None
            into.record(*timed_request(session, load.method, load.url_of(index), body))


def run_paced(
    case: str, url: str, options: Options, session_of: Callable[[], requests.Session]
) -> Measurement:
    """Sequential GETs at ``gateway_rate`` per second; ``session_of`` may reuse or not."""
    count = max(2, round(options.gateway_rate * options.gateway_seconds))
    result = Measurement(case, frozenset({200}))
    started = time.perf_counter()
    for index in range(count):
        if STOP.is_set() or time.perf_counter() - started > options.time_limit:
            result.truncated = True
            break
        _sleep_until(started + index / options.gateway_rate)
        result.record(*timed_request(session_of(), "GET", url))
    result.elapsed = time.perf_counter() - started
    return result


def _sleep_until(moment: float) -> None:
    delay = moment - time.perf_counter()
    if delay > 0:
        time.sleep(delay)


# --- the servers --------------------------------------------------------------------------------


def uncached_products(stack: LocalStack) -> GunicornServer:
    """The product service again, same database, with Redis pointed at a port nobody listens on."""
    products = stack.services["products"]
    environment = {**products.environment, "REDIS_PORT": str(free_port())}
    return GunicornServer(
        products.package, products.service_dir, stack.run_dir / "uncached", environment
    )


def require_cache_state(base_url: str, expected: str) -> None:
    """Refuse to report figures for a set-up that is not the one the label claims."""
    with new_session() as session:
        checks = session.get(f"{base_url}/health", timeout=REQUEST_TIMEOUT_SECONDS).json()
    if checks.get("checks", {}).get("cache") != expected:
        raise BenchmarkError(f"{base_url}: cache should be {expected}, /health says {checks}")


def cache_counters(base_url: str) -> dict[str, int]:
    with new_session() as session:
        stats = session.get(f"{base_url}/api/v1/stats", timeout=REQUEST_TIMEOUT_SECONDS).json()
    return {"hits": int(stats["cache"]["hits"]), "misses": int(stats["cache"]["misses"])}


def gunicorn_shape(environment: dict[str, str]) -> dict[str, int]:
    """Workers and threads as servicekit's gunicorn config resolves them for this environment."""
    server = ServerSettings.from_env(environment)
    return {"workers": server.workers, "threads": server.threads}


@contextmanager
def benchmark_stack() -> Iterator[tuple[LocalStack, GunicornServer]]:
    """The local stack plus the uncached product service; all stopped on the way out."""
    run_dir = Path(tempfile.mkdtemp(prefix="microstack-benchmark-"))
    run_dir.chmod(0o755)  # PostgreSQL runs as `postgres` and must traverse it
    stack = LocalStack(run_dir)
    uncached: GunicornServer | None = None
    try:
        progress("starting PostgreSQL, Redis, three services and nginx on 127.0.0.1")
        stack.up()
        # Held before it starts, so a gunicorn that started but never got ready is stopped too.
        uncached = uncached_products(stack)
        uncached.start()
        yield stack, uncached
    finally:
        STOP.set()
        progress("stopping every server")
        with signals_deferred():
            if uncached is not None:
                uncached.stop()
            stack.down()
            shutil.rmtree(run_dir, ignore_errors=True)


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


# --- the three measurements ---------------------------------------------------------------------


CACHE_SHAPES: dict[str, Callable[[int], str]] = {
    "item": lambda i: f"/api/v1/products/{ITEM_IDS[i % len(ITEM_IDS)]}",
    "list": lambda i: f"/api/v1/products{LIST_QUERIES[i % len(LIST_QUERIES)]}",
}
OK = frozenset({200})


def measure_cache(
    cached_url: str, uncached_url: str, options: Options
) -> tuple[list[Measurement], dict[str, int]]:
    """Item and list GETs, warm cache vs no cache; the hits/misses the measured runs produced."""
    require_cache_state(cached_url, "ok")
    require_cache_state(uncached_url, "unavailable")
    servers = {"cache warm": cached_url, "cache unavailable": uncached_url}
    for path_of in CACHE_SHAPES.values():
        for base_url in servers.values():
            warm_up = _get_load(base_url, path_of, options, options.threads * 5)
            run_concurrent("warm-up", warm_up, OK)
    before = cache_counters(cached_url)
    results: list[Measurement] = []
    for shape, path_of in CACHE_SHAPES.items():
        results += alternate_rounds(shape, path_of, servers, options)
    after = cache_counters(cached_url)
    return results, {kind: after[kind] - before[kind] for kind in after}


def alternate_rounds(
    shape: str, path_of: Callable[[int], str], servers: dict[str, str], options: Options
) -> list[Measurement]:
    """Rounds alternate between the servers, so a shift in background load hits both alike."""
    totals = {label: Measurement(f"products {shape}, {label}", OK) for label in servers}
    rounds = min(options.rounds, options.requests)
    progress(
        f"products {shape}: {options.requests} GETs per server in {rounds} alternating rounds,"
        f" {options.threads} threads"
    )
    for index in range(rounds):
        count = options.requests // rounds + int(index < options.requests % rounds)
        for label, base_url in servers.items():
            load = _get_load(base_url, path_of, options, count, options.time_limit / rounds)
            run = run_concurrent(totals[label].case, load, OK)
            totals[label].merge(run)
            totals[label].elapsed += run.elapsed
    return list(totals.values())


def _get_load(
    base_url: str,
    path_of: Callable[[int], str],
    options: Options,
    total: int,
    time_limit: float | None = None,
) -> Load:
    return Load(
        url_of=lambda i: base_url + path_of(i),
        total=total,
        threads=options.threads,
        time_limit=options.time_limit if time_limit is None else time_limit,
    )


def measure_gateway(stack: LocalStack, options: Options) -> list[Measurement]:
    """Paced sequential GETs of one product: direct, via nginx (keep-alive), via nginx (new TLS)."""
    assert stack.gateway is not None
    ca_file = stack.run_dir / "gateway-ca.pem"
    ca_file.write_text(stack.gateway.certificate.certificate_pem)
    path = "/api/v1/products/1"
    direct, through_gateway = new_session(), new_session(ca_file)
    cases = (
        ("direct to service, keep-alive", stack.services["products"].url, lambda: direct),
        ("gateway https, keep-alive", stack.gateway.url, lambda: through_gateway),
        ("gateway https, new connection", stack.gateway.url, lambda: new_session(ca_file)),
    )
    results = []
    with direct, through_gateway:
        for case, base_url, session_of in cases:
            label = f"{case}, {options.gateway_rate:g} r/s"
            progress(f"{label}: {options.gateway_seconds:g} s, sequential")
            results.append(run_paced(label, base_url + path, options, session_of))
    return results


def measure_orders(stack: LocalStack, options: Options) -> tuple[Measurement, dict[str, Any]]:
    """``orders`` concurrent POSTs of quantity 1 against a new product holding ``stock``."""
    products_url = stack.services["products"].url
    product_id = create_product(products_url, options.stock)
    load = Load(
        url_of=lambda _: f"{stack.services['orders'].url}/api/v1/orders",
        total=options.orders,
        threads=options.threads,
        time_limit=options.time_limit,
        method="POST",
        body_of=lambda _: {"user_id": 1, "product_id": product_id, "quantity": 1},
    )
    label = f"orders POST, {options.orders} against stock {options.stock}"
    progress(f"{label}: {options.threads} threads")
    result = run_concurrent(label, load, frozenset({201, 409}))
    return result, order_correctness(stack, result, product_id, options)


def create_product(products_url: str, stock: int) -> int:
    body: dict[str, Any] = {
        "name": "Benchmark item",
        "category": "benchmark",
        "price": 9.99,
        "stock": stock,
    }
    with new_session() as session:
        response = session.post(
            f"{products_url}/api/v1/products", json=body, timeout=REQUEST_TIMEOUT_SECONDS
        )
    if response.status_code != 201:
        raise BenchmarkError(f"creating the benchmark product: HTTP {response.status_code}")
    return int(response.json()["id"])


def order_correctness(
    stack: LocalStack, result: Measurement, product_id: int, options: Options
) -> dict[str, Any]:
    """What the service and the database say afterwards, next to what the invariants require."""
    with new_session() as session:
        product_url = f"{stack.services['products'].url}/api/v1/products/{product_id}"
        stock_service = session.get(product_url, timeout=REQUEST_TIMEOUT_SECONDS).json()["stock"]
    stock_database, orders_database = database_stock(stack, product_id)
    created, refused = result.statuses[201], result.statuses[409]
    complete = not result.truncated and len(result.latencies) == options.orders
    return {
        "created": created,
        "refused_409": refused,
        "other": len(result.latencies) - created - refused,
        "stock_service": stock_service,
        "stock_database": stock_database,
        "orders_in_database": orders_database,
        "ok": complete
        and created == min(options.stock, options.orders) == orders_database
        and refused == options.orders - created
        and stock_service == stock_database == options.stock - created,
    }


def database_stock(stack: LocalStack, product_id: int) -> tuple[int, int]:
    """Stock and order count, read as the superuser behind the services' backs."""
    assert stack.postgres is not None
    connection = stack.postgres.connect(DEFAULT_DATABASE)
    try:
        with connection, connection.cursor() as cursor:
            stock = _single_value(cursor, "SELECT stock FROM products WHERE id = %s", product_id)
            orders = _single_value(
                cursor, "SELECT count(*) FROM orders WHERE product_id = %s", product_id
            )
    finally:
        connection.close()
    return stock, orders


def _single_value(cursor: psycopg2.extensions.cursor, sql: str, product_id: int) -> int:
    cursor.execute(sql, (product_id,))
    row = cursor.fetchone()
    if row is None:
        raise BenchmarkError(f"no row for product {product_id}: {sql}")
    return int(row[0])


# --- the report ---------------------------------------------------------------------------------


def run_benchmark(options: Options) -> dict[str, Any]:
    with benchmark_stack() as (stack, uncached):
        cache_runs, counters = measure_cache(stack.services["products"].url, uncached.url, options)
        gateway_runs = measure_gateway(stack, options)
        order_run, correctness = measure_orders(stack, options)
        gunicorn = gunicorn_shape(dict(stack.services["products"].environment))
    cases = [run.summary() for run in (*cache_runs, *gateway_runs, order_run)]
    return {
        "environment": {
            "host": "127.0.0.1",
            "cpus": os.cpu_count(),
            "gunicorn": {"worker_class": "gthread", **gunicorn},
            "client_threads": options.threads,
        },
        "cases": cases,
        "ratios": ratios({case["case"]: case for case in cases}),
        "cache_counters_during_warm_runs": counters,
        "orders": correctness,
    }


def ratios(cases: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    def find(prefix: str) -> dict[str, Any]:
        return next(case for name, case in cases.items() if name.startswith(prefix))

    figures: dict[str, float | None] = {}
    for shape in ("item", "list"):
        warm, cold = find(f"products {shape}, cache warm"), find(f"products {shape}, cache un")
        figures[f"{shape}_throughput_cached_over_uncached"] = divide(
            warm["requests_per_second"], cold["requests_per_second"]
        )
        figures[f"{shape}_p50_uncached_over_cached"] = divide(cold["p50_ms"], warm["p50_ms"])
    direct, gateway = find("direct to service"), find("gateway https, keep-alive")
    fresh = find("gateway https, new connection")
    for percent in ("p50", "p95"):
        key = f"{percent}_ms"
        figures[f"gateway_{percent}_over_direct"] = divide(gateway[key], direct[key])
    figures["new_connection_p50_over_keepalive"] = divide(fresh["p50_ms"], gateway["p50_ms"])
    return figures


def divide(numerator: float | None, denominator: float | None) -> float | None:
    if not numerator or not denominator:
        return None
    return round(numerator / denominator, 2)


def format_table(report: dict[str, Any]) -> str:
    environment = report["environment"]
    gunicorn = environment["gunicorn"]
    lines = [
        f"microstack benchmark on {environment['host']} ({environment['cpus']} CPUs), gunicorn "
        f"{gunicorn['worker_class']} {gunicorn['workers']} workers x {gunicorn['threads']} "
        f"threads, {environment['client_threads']} client threads",
        "",
        f"{'case':<52}{'requests':>9}{'errors':>7}{'req/s':>9}"
        f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}",
    ]
    lines += [_table_row(case) for case in report["cases"]]
    lines += ["", "ratios:"]
    lines += [f"  {name:<45}{_number(value)}" for name, value in report["ratios"].items()]
    counters = report["cache_counters_during_warm_runs"]
    lines.append(f"cache during warm runs: {counters['hits']} hits, {counters['misses']} misses")
    lines.append(_correctness_line(report["orders"]))
    return "\n".join(lines)


def _table_row(case: dict[str, Any]) -> str:
    name = case["case"] + (" (time limit hit)" if case["truncated"] else "")
    return (
        f"{name:<52}{case['requests']:>9}{case['errors']:>7}{case['requests_per_second']:>9.1f}"
        f"{_number(case['p50_ms']):>9}{_number(case['p95_ms']):>9}{_number(case['p99_ms']):>9}"
    )


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _correctness_line(orders: dict[str, Any]) -> str:
    verdict = "OK" if orders["ok"] else "WRONG"
    return (
        f"orders correctness: {orders['created']} created, {orders['refused_409']} refused 409, "
        f"{orders['other']} other; stock now {orders['stock_service']} (service) / "
        f"{orders['stock_database']} (database); {orders['orders_in_database']} orders in the "
        f"database: {verdict}"
    )


# --- command line -------------------------------------------------------------------------------


def progress(message: str) -> None:
    print(f"benchmark: {message}", file=sys.stderr, flush=True)


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m scripts.benchmark", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    defaults = Options()
    positive = _positive_int
    parser.add_argument("--requests", type=positive, help=f"per cache case ({defaults.requests})")
    parser.add_argument("--threads", type=positive, help=f"client threads ({defaults.threads})")
    parser.add_argument(
        "--rounds", type=positive, help=f"alternating rounds per cache case ({defaults.rounds})"
    )
    parser.add_argument("--orders", type=positive, help=f"order POSTs ({defaults.orders})")
    parser.add_argument("--stock", type=positive, help=f"the product's stock ({defaults.stock})")
    parser.add_argument(
        "--gateway-seconds",
        type=_positive_float,
        help=f"paced run length ({defaults.gateway_seconds})",
    )
    parser.add_argument(
        "--time-limit",
        type=_positive_float,
        help=f"seconds per case at most ({defaults.time_limit})",
    )
    parser.add_argument("--quick", action="store_true", help="tiny counts (a smoke run)")
    parser.add_argument("--json", action="store_true", help="print only the JSON report")
    arguments = parser.parse_args(argv)
    overrides = {
        name: value
        for name, value in vars(arguments).items()
        if name in OPTION_NAMES and value is not None
    }
    chosen = {**(QUICK if arguments.quick else {}), **overrides, "json_only": arguments.json}
    return replace(defaults, **chosen)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # SystemExit unwinds through benchmark_stack's `finally`, which stops every server.
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    previous_handler = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    STOP.clear()
    try:
        report = run_benchmark(options)
    except (StackError, MissingBinaryError, BenchmarkError) as error:
        print(f"benchmark: {error}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
    if not options.json_only:
        print(format_table(report), end="\n\n")
    print(json.dumps(report, separators=(",", ":")))
    return 0 if report["orders"]["ok"] else 2


if __name__ == "__main__":
    sys.exit(main())
