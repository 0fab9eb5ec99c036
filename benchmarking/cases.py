"""What the benchmark measures, in alternating rounds, and the figures it keeps.

Every case goes through a gateway over HTTPS with keep-alive, as clients meet the platform. Each
round runs every case once, in the same order, so that a drift of the machine (the other half of
two shared cores) hits them alike; a case's figures are those of its median round, and a ratio is
the median of the ratios taken within each round.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarking.framework_ceiling import ITEM_PATH as FRAMEWORK_ITEM_PATH
from benchmarking.load import (
    REQUEST_TIMEOUT_SECONDS,
    Load,
    LoadResult,
    Mix,
    new_session,
    run_python,
    run_wrk,
    wrk_available,
)
from benchmarking.memory import descendants, tree_pss_mb, worker_pages
from benchmarking.process_cost import TreeCounters, tree_counters
from benchmarking.profile import py_spy_available, record, summarise
from benchmarking.service_python import service_python
from benchmarking.stack import (
    BENCHMARK_RATE_LIMIT_BURST,
    BENCHMARK_RATE_LIMIT_PER_SECOND,
    EDGE_PATH,
    SAMPLE_ITEM_PATH,
    BenchmarkError,
    BenchmarkStack,
    benchmark_stack,
    run_directory_parent,
)
from launchers.database import DEFAULT_DATABASE
from launchers.gateway import Gateway
from launchers.gunicorn import GunicornServer
from launchers.paths import SERVICES_DIR

MIX_PRODUCTS = 100
# Products of the mix that only the read-your-writes probe writes (wrk reads them all).
PROBED_PRODUCTS = 4
WRITE_PERCENT = 10
LIST_PATH = "/api/v1/products?limit=20"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Options:
    seconds: float = 8.0
    rounds: int = 3
    connections: int = 32
    threads: int = 2
    warmup_seconds: float = 2.0
    orders: int = 200
    stock: int = 100
    client: str = "auto"  # "wrk", "python", or "auto": wrk when installed
    # After the rounds, sample one product worker with py-spy under the cached-item load (0: off).
    profile_seconds: float = 0.0
    # The services' interpreter: "isolated" (their image's packages) or "host" (service_python.py).
    service_packages: str = "isolated"


@dataclass(frozen=True)
class Case:
    key: str
    label: str
    gateway: Callable[[BenchmarkStack], Gateway]
    # The gunicorn tree that serves the case, whose cost per request is reported (none: nginx).
    server: Callable[[BenchmarkStack], GunicornServer] | None
    path: str = "/"
    mix: bool = False


CASES = (
    Case("edge", "edge ceiling: nginx answers the same body", lambda s: s.gateway, None, EDGE_PATH),
    Case(
        "framework",
        "framework ceiling: trivial Flask view",
        lambda s: s.gateway,
        lambda s: s.framework,
        FRAMEWORK_ITEM_PATH,
    ),
    Case(
        "item",
        f"GET {SAMPLE_ITEM_PATH}, cache warm",
        lambda s: s.gateway,
        lambda s: s.products,
        SAMPLE_ITEM_PATH,
    ),
    Case(
        "list", f"GET {LIST_PATH}, cache warm", lambda s: s.gateway, lambda s: s.products, LIST_PATH
    ),
    Case(
        "uncached",
        f"GET {SAMPLE_ITEM_PATH}, Redis unavailable",
        lambda s: s.uncached_gateway,
        lambda s: s.uncached,
        SAMPLE_ITEM_PATH,
    ),
    Case(
        "mix",
        f"{100 - WRITE_PERCENT}/{WRITE_PERCENT} GET/PATCH over {MIX_PRODUCTS} products",
        lambda s: s.gateway,
        lambda s: s.products,
        mix=True,
    ),
)
# Ratio name -> (case, figure, case it is divided by, figure).
RATIOS = {
    "item_rps_over_framework": ("item", "requests_per_second", "framework", "requests_per_second"),
    "item_p99_over_framework": ("item", "p99_ms", "framework", "p99_ms"),
    "list_rps_over_framework": ("list", "requests_per_second", "framework", "requests_per_second"),
    "list_p99_over_framework": ("list", "p99_ms", "framework", "p99_ms"),
    "uncached_rps_over_framework": (
        "uncached",
        "requests_per_second",
        "framework",
        "requests_per_second",
    ),
    "item_rps_over_uncached": ("item", "requests_per_second", "uncached", "requests_per_second"),
    "framework_rps_over_edge": ("framework", "requests_per_second", "edge", "requests_per_second"),
}


def run_benchmark(options: Options, progress: Progress) -> dict[str, Any]:
    client = resolve_client(options.client)
    python = service_python(options.service_packages, progress)
    with benchmark_stack(progress, python.executable) as stack:
        require_cache_state(stack.products.url, "ok")
        require_cache_state(stack.uncached.url, "unavailable")
        mix = prepare_mix(stack)
        runner = _Runner(stack, options, client, mix, progress)
        runner.warm_up()
        rounds = [runner.run_round(index) for index in range(options.rounds)]
        profile = runner.profile() if options.profile_seconds else None
        orders = measure_orders(stack, options, progress)
        memory = {name: tree_pss(server) for name, server in stack.service_trees().items()}
        pages = {name: first_worker_pages(server) for name, server in stack.service_trees().items()}
        gunicorn = gunicorn_shape(dict(stack.products.environment))
    report = build_report(options, client, rounds, orders, memory, gunicorn)
    report["settings"]["service_python"] = python.as_dict()
    report["memory_first_worker_mb"] = pages
    if profile is not None:
        report["profile_cached_item"] = profile
    return report


def resolve_client(choice: str) -> str:
    if choice == "auto":
        return "wrk" if wrk_available() else "python"
    if choice == "wrk" and not wrk_available():
        raise BenchmarkError("wrk is not installed (apt-get install wrk), or use --client python")
    return choice


class _Runner:
    def __init__(
        self,
        stack: BenchmarkStack,
        options: Options,
        client: str,
        mix: MixProducts,
        progress: Progress,
    ) -> None:
        self.stack, self.options, self.client, self.mix = stack, options, client, mix
        self.progress = progress
        self.work_dir = stack.local.run_dir

    def warm_up(self) -> None:
        """Fill the caches and open the keep-alive connections; nothing here is recorded."""
        self.progress(f"warming up every case ({self.options.warmup_seconds:g} s each)")
        for case in CASES:
            if not case.mix:
                self.load(case, self.options.warmup_seconds)

    def run_round(self, index: int) -> dict[str, Any]:
        self.progress(
            f"round {index + 1}/{self.options.rounds}: {len(CASES)} cases,"
            f" {self.options.seconds:g} s each ({self.client})"
        )
        figures: dict[str, Any] = {}
        for case in CASES:
            before = cache_counters(self.stack.products.url)
            probe = ReadYourWritesProbe(self.stack, self.mix.probe_ids) if case.mix else None
            if probe is not None:
                probe.start()
            counters = self.server_counters(case)
            result = self.load(case, self.options.seconds)
            cost = self.server_cost(case, counters, result.requests)
            if probe is not None:
                probe.stop()
            after = cache_counters(self.stack.products.url)
            figures[case.key] = {
                **result.as_dict(),
                **cost,
                "cache": {kind: after[kind] - before[kind] for kind in after},
                **({"read_your_writes": probe.summary()} if probe is not None else {}),
            }
        return figures

    def server_counters(self, case: Case) -> TreeCounters | None:
        server = case.server(self.stack) if case.server is not None else None
        if server is None or server.process is None:
            return None
        return tree_counters(server.process.pid)

    def server_cost(
        self, case: Case, before: TreeCounters | None, requests: int
    ) -> dict[str, float | None]:
        after = self.server_counters(case)
        if before is None or after is None:
            return {}
        return before.per_request(after, requests)

    def profile(self) -> dict[str, float]:
        """Busy samples of one product worker by category during a cached-item run."""
        if not py_spy_available():
            raise BenchmarkError("--profile-seconds needs py-spy (pip install py-spy)")
        products = self.stack.products
        assert products.process is not None
        worker = descendants(products.process.pid)[0]
        seconds = self.options.profile_seconds
        self.progress(f"profiling product worker {worker} for {seconds:g} s (py-spy)")
        item = next(case for case in CASES if case.key == "item")
        output = self.work_dir / "profile.txt"
        record(worker, seconds, output, lambda: self.load(item, seconds))
        return summarise(output)

    def load(self, case: Case, seconds: float) -> LoadResult:
        load = Load(
            base_url=case.gateway(self.stack).url,
            seconds=seconds,
            connections=self.options.connections,
            threads=self.options.threads,
            path=case.path,
            mix=self.mix.load_mix if case.mix else None,
        )
        if self.client == "wrk":
            return run_wrk(load, self.work_dir)
        return run_python(load, self.stack.ca_file)


# --- the 90/10 mix ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MixProducts:
    load_mix: Mix
    probe_ids: tuple[int, ...]


def prepare_mix(stack: BenchmarkStack) -> MixProducts:
    """Create the mix's products, then read each once through the gateway (a warm cache)."""
    with new_session(stack.ca_file) as session:
        ids = [create_product(session, stack.products.url, 1000) for _ in range(MIX_PRODUCTS)]
        for product_id in ids:
            session.get(
                f"{stack.gateway.url}/api/v1/products/{product_id}",
                timeout=REQUEST_TIMEOUT_SECONDS,
            )
    written, probed = ids[:-PROBED_PRODUCTS], ids[-PROBED_PRODUCTS:]
    return MixProducts(Mix(tuple(ids), tuple(written), WRITE_PERCENT), tuple(probed))


class ReadYourWritesProbe:
    """During the mix: set a product's stock through the gateway, read it back, compare.

    Its products are read by the load too (so they sit in the cache, contended) but written only
    here, so any other value read back is a stale cache entry, never someone else's write.
    """

    def __init__(self, stack: BenchmarkStack, product_ids: tuple[int, ...]) -> None:
        self._url = stack.gateway.url
        self._ca_file = stack.ca_file
        self._product_ids = product_ids
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="read-your-writes", daemon=True)
        self.checks = 0
        self.violations: list[dict[str, Any]] = []

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict[str, Any]:
        return {
            "checks": self.checks,
            "violations": len(self.violations),
            "examples": self.violations[:3],
        }

    def _run(self) -> None:
        stock = int(time.time()) % 1_000_000
        with new_session(self._ca_file) as session:
            while not self._stop.is_set():
                product_id = self._product_ids[self.checks % len(self._product_ids)]
                stock += 1
                url = f"{self._url}/api/v1/products/{product_id}"
                written = session.patch(
                    f"{url}/stock", json={"stock": stock}, timeout=REQUEST_TIMEOUT_SECONDS
                )
                read = session.get(url, timeout=REQUEST_TIMEOUT_SECONDS)
                self.checks += 1
                seen = read.json().get("stock") if read.status_code == 200 else None
                if written.status_code != 200 or seen != stock:
                    self.violations.append(
                        {
                            "product": product_id,
                            "wrote": stock,
                            "status": written.status_code,
                            "read": seen,
                        }
                    )


# --- helpers against the services ---------------------------------------------------------------


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


def create_product(session: Any, products_url: str, stock: int) -> int:
    body = {"name": "Benchmark item", "category": "benchmark", "price": 9.99, "stock": stock}
    response = session.post(
        f"{products_url}/api/v1/products", json=body, timeout=REQUEST_TIMEOUT_SECONDS
    )
    if response.status_code != 201:
        raise BenchmarkError(f"creating a benchmark product: HTTP {response.status_code}")
    return int(response.json()["id"])


def tree_pss(server: Any) -> float | None:
    return tree_pss_mb(server.process.pid) if server.process is not None else None


def first_worker_pages(server: Any) -> dict[str, float] | None:
    """What one worker holds of its own: why a tree outgrows the master's image (memory.py)."""
    if server.process is None:
        return None
    workers = descendants(server.process.pid)
    pages = worker_pages(min(workers), server.process.pid) if workers else None
    return asdict(pages) if pages is not None else None


def gunicorn_shape(environment: dict[str, str]) -> dict[str, int]:
    """Workers and threads as servicekit's gunicorn config resolves them for this environment."""
    # servicekit lives under services/, which is not an import root of `python -m scripts...`.
    if str(SERVICES_DIR) not in sys.path:
        sys.path.append(str(SERVICES_DIR))
    from servicekit.settings import ServerSettings

    server = ServerSettings.from_env(environment)
    return {"workers": server.workers, "threads": server.threads}


# --- orders under concurrency (correctness, not speed) ------------------------------------------


def measure_orders(stack: BenchmarkStack, options: Options, progress: Progress) -> dict[str, Any]:
    """``orders`` concurrent POSTs of quantity 1 against a new product holding ``stock``."""
    progress(f"orders: {options.orders} concurrent POSTs against stock {options.stock}")
    orders_url = f"{stack.local.services['orders'].url}/api/v1/orders"
    with new_session() as session:
        product_id = create_product(session, stack.products.url, options.stock)
    local = threading.local()

    def order(_: int) -> int:
        if not hasattr(local, "session"):
            local.session = new_session()
        body = {"user_id": 1, "product_id": product_id, "quantity": 1}
        return int(local.session.post(orders_url, json=body, timeout=10).status_code)

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(order, range(options.orders)))
    with new_session() as session:
        product_url = f"{stack.products.url}/api/v1/products/{product_id}"
        stock_service = session.get(product_url, timeout=REQUEST_TIMEOUT_SECONDS).json()["stock"]
    stock_database, orders_database = database_stock(stack, product_id)
    created, refused = statuses.count(201), statuses.count(409)
    return {
        "created": created,
        "refused_409": refused,
        "other": len(statuses) - created - refused,
        "stock_service": stock_service,
        "stock_database": stock_database,
        "orders_in_database": orders_database,
        "ok": created == min(options.stock, options.orders) == orders_database
        and refused == options.orders - created
        and stock_service == stock_database == options.stock - created,
    }


def database_stock(stack: BenchmarkStack, product_id: int) -> tuple[int, int]:
    """Stock and order count, read as the superuser behind the services' backs."""
    assert stack.local.postgres is not None
    connection = stack.local.postgres.connect(DEFAULT_DATABASE)
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute(
                "SELECT stock, (SELECT count(*) FROM orders WHERE product_id = %(id)s)"
                " FROM products WHERE id = %(id)s",
                {"id": product_id},
            )
            row = cursor.fetchone()
    finally:
        connection.close()
    if row is None:
        raise BenchmarkError(f"product {product_id} is missing from the database")
    return int(row[0]), int(row[1])


# --- the report's figures -----------------------------------------------------------------------


def build_report(
    options: Options,
    client: str,
    rounds: list[dict[str, Any]],
    orders: dict[str, Any],
    memory: dict[str, float | None],
    gunicorn: dict[str, int],
) -> dict[str, Any]:
    cases = []
    for case in CASES:
        per_round = [round_figures[case.key] for round_figures in rounds]
        chosen = per_round[_median_index(per_round)]
        cases.append(
            {
                "case": case.key,
                "label": case.label,
                **{k: v for k, v in chosen.items() if k not in ("cache", "read_your_writes")},
                "errors": sum(figures["errors"] for figures in per_round),
                "requests_all_rounds": sum(figures["requests"] for figures in per_round),
                "rounds": [{k: f[k] for k in ("requests_per_second", "p99_ms")} for f in per_round],
            }
        )
    mix_rounds = [round_figures["mix"] for round_figures in rounds]
    hits = sum(figures["cache"]["hits"] for figures in mix_rounds)
    misses = sum(figures["cache"]["misses"] for figures in mix_rounds)
    checks = sum(figures["read_your_writes"]["checks"] for figures in mix_rounds)
    violations = sum(figures["read_your_writes"]["violations"] for figures in mix_rounds)
    cached_misses = sum(rf[key]["cache"]["misses"] for rf in rounds for key in ("item", "list"))
    ratios = {name: _median_ratio(rounds, *spec) for name, spec in RATIOS.items()}
    report = {
        "machine": machine(),
        "settings": {
            "client": client,
            "connections": options.connections,
            "client_threads": options.threads,
            "seconds_per_case": options.seconds,
            "rounds": options.rounds,
            "gunicorn": {"worker_class": "gthread", **gunicorn},
            "gateway_rate_limit": {
                "per_second": BENCHMARK_RATE_LIMIT_PER_SECOND,
                "burst": BENCHMARK_RATE_LIMIT_BURST,
                "note": "raised for the measurement (stack default 50 r/s, burst 100)",
            },
            "servers_directory": str(run_directory_parent()),
        },
        "cases": cases,
        "ratios": ratios,
        "mix": {
            "hit_ratio": round(hits / (hits + misses), 4) if hits + misses else None,
            "hits": hits,
            "misses": misses,
            "read_your_writes": {
                "checks": checks,
                "violations": violations,
                "ok": checks > 0 and violations == 0,
                "examples": [e for f in mix_rounds for e in f["read_your_writes"]["examples"]][:3],
            },
        },
        "cached_cases_misses": cached_misses,
        "memory_pss_mb": memory,
        "orders": orders,
    }
    report["targets"] = targets(report)
    return report


def _median_index(per_round: list[dict[str, Any]]) -> int:
    rates = [figures["requests_per_second"] for figures in per_round]
    return rates.index(statistics.median_low(rates))


def _median_ratio(
    rounds: list[dict[str, Any]], case: str, figure: str, over: str, over_figure: str
) -> float | None:
    values = [
        rf[case][figure] / rf[over][over_figure]
        for rf in rounds
        if rf[case][figure] and rf[over][over_figure]
    ]
    return round(statistics.median(values), 3) if values else None


SERVICES_WITH_MEMORY_TARGET = ("users", "products", "orders")


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each with the measured value and whether it is met."""
    ratios, mix = report["ratios"], report["mix"]

    def at_least(value: float | None, bound: float) -> bool:
        return value is not None and value >= bound

    def at_most(value: float | None, bound: float) -> bool:
        return value is not None and value <= bound

    rows = [
        ("cached item req/s >= 0.8x framework", ratios["item_rps_over_framework"], 0.8, at_least),
        ("cached item p99 <= 1.25x framework", ratios["item_p99_over_framework"], 1.25, at_most),
        ("cached list req/s >= 0.6x framework", ratios["list_rps_over_framework"], 0.6, at_least),
        ("mix hit ratio >= 95 %", mix["hit_ratio"], 0.95, at_least),
    ]
    rows += [
        (f"{name} process tree PSS <= 64 MB", report["memory_pss_mb"].get(name), 64.0, at_most)
        for name in SERVICES_WITH_MEMORY_TARGET
    ]
    result = [
        {"target": name, "value": value, "met": check(value, bound)}
        for name, value, bound, check in rows
    ]
    result.append(
        {
            "target": "read-your-writes during the mix",
            "value": mix["read_your_writes"]["violations"],
            "met": mix["read_your_writes"]["ok"],
        }
    )
    return result


def machine() -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "nginx": _version(["nginx", "-v"]),
        "wrk": _version(["wrk", "--version"]),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(argv: list[str]) -> str | None:
    try:
        completed = subprocess.run(argv, capture_output=True, text=True, timeout=5, check=False)
    except OSError:
        return None
    output = (completed.stderr + completed.stdout).strip()
    return output.splitlines()[0] if output else None
