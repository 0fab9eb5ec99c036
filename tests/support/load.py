"""A bounded GET load through the gateway over HTTPS, counting what failed and how.

At a fixed rate (40/s by default, below the gateway's 50/s per-client limit) it cycles through
the lists and a few items of the three services, over verified TLS. Every request has a timeout;
the whole load has a hard cap on duration and on the number of requests, so a test that forgets to
stop it still ends.

    with GetLoad(outputs) as load:          # starts at once
        apply_a_change()
    print(load.result.describe())            # stopped on leaving the block

    result_of_action, load_result = GetLoad(outputs, rate=40).run_while(apply_a_change)
    load_result = GetLoad(outputs).run_for(10)
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self, TypeVar

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from tests.support.https import gateway_session, write_ca_file
from tests.support.started import StartStop

T = TypeVar("T")

DEFAULT_RATE = 40.0
DEFAULT_MAX_SECONDS = 300.0
REQUEST_TIMEOUT_SECONDS = 5.0
# Enough threads that a few slow answers (a retry in the gateway, a replica starting) do not
# lower the rate: 40/s with up to 5 s per request needs at most 200, a dead gateway aside.
WORKERS = 16
ITEMS_PER_SERVICE = 3
EXAMPLE_LENGTH = 300
# What every HTTP client does (RFC 9112, 9.3.1): a GET whose reused keep-alive connection the server
# closed before any byte of an answer is sent again, once, on a new connection. nginx closes idle
# client connections when it reloads (the gateway does when a replica changes address), and a GET
# may be on its way at that moment. An answer, any status, is never retried: a 5xx counts.
STALE_CONNECTION_RETRY = Retry(
    total=1, connect=1, read=1, status=0, other=0, allowed_methods={"GET"}, raise_on_status=False
)


@dataclass(frozen=True)
class LoadResult:
    """What a load saw. `failures` counts failed requests by HTTP status ("502") or, when no
    answer came, by exception name ("ConnectionError", "ReadTimeout")."""

    sent: int
    succeeded: int
    failures: Mapping[str, int]
    seconds: float
    capped: bool = False  # stopped by the duration or count cap, not by the caller
    failed_urls: Mapping[str, int] = field(default_factory=dict)
    # The last message seen per failure kind (a status's body, an exception's text): the why.
    examples: Mapping[str, str] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    def describe(self) -> str:
        rate = self.sent / self.seconds if self.seconds else 0.0
        failures = ", ".join(f"{count} x {kind}" for kind, count in sorted(self.failures.items()))
        cap = " (stopped by its cap)" if self.capped else ""
        return (
            f"{self.sent} GETs in {self.seconds:.1f}s ({rate:.0f}/s){cap}: "
            f"{self.failed} failed{': ' + failures if failures else ''}"
        )


class GetLoad(StartStop):
    def __init__(
        self,
        outputs: Mapping[str, Any],
        *,
        rate: float = DEFAULT_RATE,
        max_seconds: float = DEFAULT_MAX_SECONDS,
        max_requests: int | None = None,
        timeout: float = REQUEST_TIMEOUT_SECONDS,
    ) -> None:
        if rate <= 0 or max_seconds <= 0:
            raise ValueError("rate and max_seconds must be positive")
        self.outputs = outputs
        self.rate = rate
        self.max_seconds = max_seconds
        self.max_requests = max_requests or int(rate * max_seconds)
        self.timeout = timeout
        self.result: LoadResult | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._statuses: Counter[str] = Counter()
        self._failed_urls: Counter[str] = Counter()
        self._examples: dict[str, str] = {}
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._scheduler: threading.Thread | None = None
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        self._sent = 0
        self._started = 0.0
        self._capped = False

    # -- the ways to run it (also `with GetLoad(...) as load:`, from StartStop) -----------------

    def run_while(self, action: Callable[[], T]) -> tuple[T, LoadResult]:
        """Run `action` under load; its return value and what the load saw."""
        with self:
            value = action()
        assert self.result is not None
        return value, self.result

    def run_for(self, seconds: float) -> LoadResult:
        return self.run_while(lambda: time.sleep(seconds))[1]

    def start(self) -> Self:
        self._scratch = tempfile.TemporaryDirectory(prefix="microstack-load-")
        self._ca_file = write_ca_file(self.outputs["tls_ca_certificate"], Path(self._scratch.name))
        self._urls = self._targets()
        self._started = time.monotonic()
        self._scheduler = threading.Thread(target=self._schedule, name="get-load", daemon=True)
        self._scheduler.start()
        return self

    def stop(self) -> None:
        """Stop sending, wait (bounded by the request timeout) for answers in flight; what the
        load saw is then in `result`."""
        self._stop.set()
        if self._scheduler is not None:
            self._scheduler.join(timeout=self.timeout + 10)
        with self._lock:
            statuses = Counter(self._statuses)
            failed_urls = dict(self._failed_urls)
            examples = dict(self._examples)
        for session in self._sessions:
            session.close()
        if self._scratch is not None:
            self._scratch.cleanup()
        succeeded = sum(count for kind, count in statuses.items() if kind.startswith("2"))
        failures = {kind: count for kind, count in statuses.items() if not kind.startswith("2")}
        self.result = LoadResult(
            sent=sum(statuses.values()),
            succeeded=succeeded,
            failures=failures,
            seconds=time.monotonic() - self._started,
            capped=self._capped,
            failed_urls=failed_urls,
            examples=examples,
        )

    # -- inside --------------------------------------------------------------------------------

    def _targets(self) -> list[str]:
        """Each service's list and its first few items, found before the load starts."""
        urls: list[str] = []
        session = self._session()
        for url in self.outputs["service_urls"].values():
            listed = session.get(url, params={"limit": ITEMS_PER_SERVICE}, timeout=self.timeout)
            listed.raise_for_status()
            urls.append(url)
            urls += [f"{url}/{item['id']}" for item in listed.json()["items"]]
        return urls

    def _schedule(self) -> None:
        futures: list[Future[None]] = []
        with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="get-load") as pool:
            while not self._stop.is_set():
                elapsed = time.monotonic() - self._started
                if elapsed >= self.max_seconds or self._sent >= self.max_requests:
                    self._capped = True
                    break
                url = self._urls[self._sent % len(self._urls)]
                futures.append(pool.submit(self._get, url))
                self._sent += 1
                # A fixed schedule, not a fixed pause: a slow tick does not lower the rate.
                self._stop.wait(max(0.0, self._sent / self.rate - elapsed - 1e-3))
            for future in futures:
                future.result()

    def _get(self, url: str) -> None:
        try:
            response = self._session().get(url, timeout=self.timeout)
            kind, example = str(response.status_code), response.text[:EXAMPLE_LENGTH]
        except requests.RequestException as error:
            kind, example = type(error).__name__, str(error)[:EXAMPLE_LENGTH]
        with self._lock:
            self._statuses[kind] += 1
            if not kind.startswith("2"):
                self._failed_urls[url] += 1
                self._examples[kind] = example

    def _session(self) -> requests.Session:
        # One keep-alive session per thread: requests' Session is not documented as thread-safe.
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            # No 429 retries: a rate-limited request is a failure the load must report.
            session = gateway_session(self._ca_file)
            session.mount("https://", HTTPAdapter(max_retries=STALE_CONNECTION_RETRY))
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session
