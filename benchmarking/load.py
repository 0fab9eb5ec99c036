"""Load generators: wrk (C, what the figures should come from) and a Python fallback.

Both run one ``Load`` for a fixed time over keep-alive connections and return a ``LoadResult``
with the same fields, so the cases and the report do not care which one ran. The Python client
shares the CPUs with the servers it measures and takes a large part of them, so its absolute
figures are low; it exists so that the benchmark still runs (and the smoke test still passes) on a
machine without wrk.
"""

from __future__ import annotations

import json
import random
import shutil
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

REQUEST_TIMEOUT_SECONDS = 10.0
WRK_REPORT_MARKER = "WRK_REPORT "


@dataclass(frozen=True)
class Mix:
    """Reads of ``/api/v1/products/<id>`` over ``read_ids``; ``write_percent`` of the requests are
    ``PATCH .../stock`` of one of ``write_ids`` (a random absolute stock, so never a 409)."""

    read_ids: tuple[int, ...]
    write_ids: tuple[int, ...]
    write_percent: int


@dataclass(frozen=True)
class Load:
    """``connections`` keep-alive connections for ``seconds``: one ``path``, or a ``mix``."""

    base_url: str
    seconds: float
    connections: int
    threads: int
    path: str = "/"
    mix: Mix | None = None


@dataclass
class LoadResult:
    requests: int
    seconds: float
    errors: int  # any answer other than 2xx, and any connection error or timeout
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    writes: int = 0
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def requests_per_second(self) -> float:
        return round(self.requests / self.seconds, 1) if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "requests_per_second": self.requests_per_second,
            "errors": self.errors,
            "p50_ms": self.p50_ms,
            "p90_ms": self.p90_ms,
            "p99_ms": self.p99_ms,
            "writes": self.writes,
        }


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


# --- wrk ----------------------------------------------------------------------------------------

# wrk counts only statuses >= 400 as errors; the `response` hook counts every non-2xx. It makes wrk
# parse each response's headers, which costs the client the same in every case.
_WRK_COMMON = """
local threads = {}
non2xx = 0
writes = 0

function setup(thread)
  table.insert(threads, thread)
  thread:set("seed", #threads)
end

function response(status, headers, body)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
end

function done(summary, latency, requests)
  local non2xx_total, writes_total = 0, 0
  for _, thread in ipairs(threads) do
    non2xx_total = non2xx_total + thread:get("non2xx")
    writes_total = writes_total + thread:get("writes")
  end
  local e = summary.errors
  io.write(string.format(
    '%s{"requests":%d,"duration_us":%d,"non2xx":%d,"socket_errors":%d,"writes":%d,'
      .. '"p50_us":%d,"p90_us":%d,"p99_us":%d}\\n',
    "__MARKER__", summary.requests, summary.duration, non2xx_total,
    e.connect + e.read + e.write + e.timeout, writes_total,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
"""

# Defined only for a mix: with no `request` function wrk sends one pre-built request, the cheapest.
_WRK_MIX = """
local read_ids, write_ids, write_percent = {}, {}, 0

function init(args)
  math.randomseed(os.time() * 100 + seed)
  for id in string.gmatch(args[1], "%d+") do table.insert(read_ids, id) end
  for id in string.gmatch(args[2], "%d+") do table.insert(write_ids, id) end
  write_percent = tonumber(args[3])
end

function request()
  if math.random(100) <= write_percent then
    writes = writes + 1
    local id = write_ids[math.random(#write_ids)]
    local body = '{"stock":' .. math.random(1000, 1000000) .. '}'
    return wrk.format("PATCH", "/api/v1/products/" .. id .. "/stock",
      {["Content-Type"] = "application/json"}, body)
  end
  return wrk.format("GET", "/api/v1/products/" .. read_ids[math.random(#read_ids)])
end
"""


def run_wrk(load: Load, work_dir: Path) -> LoadResult:
    script = _WRK_COMMON.replace("__MARKER__", WRK_REPORT_MARKER)
    arguments: list[str] = []
    if load.mix is not None:
        script += _WRK_MIX
        mix = load.mix
        arguments = [
            "--",
            ",".join(map(str, mix.read_ids)),
            ",".join(map(str, mix.write_ids)),
            str(mix.write_percent),
        ]
    script_path = work_dir / ("wrk-mix.lua" if load.mix else "wrk-path.lua")
    script_path.write_text(script)
    argv = [
        "wrk",
        *("-t", str(min(load.threads, load.connections))),
        *("-c", str(load.connections)),
        *("-d", f"{max(1, round(load.seconds))}s"),
        *("--timeout", f"{REQUEST_TIMEOUT_SECONDS:g}s"),
        *("-s", str(script_path)),
        load.base_url + load.path,
        *arguments,
    ]
    completed = subprocess.run(
        argv, capture_output=True, text=True, timeout=load.seconds + 60, check=False
    )
    report = next(
        (
            line.removeprefix(WRK_REPORT_MARKER)
            for line in completed.stdout.splitlines()
            if line.startswith(WRK_REPORT_MARKER)
        ),
        None,
    )
    if completed.returncode != 0 or report is None:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stderr.strip()}")
    figures = json.loads(report)
    done = int(figures["requests"])
    return LoadResult(
        requests=done,
        seconds=figures["duration_us"] / 1e6,
        errors=int(figures["non2xx"]) + int(figures["socket_errors"]),
        p50_ms=_us_to_ms(figures["p50_us"]) if done else None,
        p90_ms=_us_to_ms(figures["p90_us"]) if done else None,
        p99_ms=_us_to_ms(figures["p99_us"]) if done else None,
        writes=int(figures["writes"]),
    )


def _us_to_ms(microseconds: float) -> float:
    return round(microseconds / 1000, 2)


# --- the Python fallback ------------------------------------------------------------------------


def run_python(load: Load, ca_file: Path | None) -> LoadResult:
    """One thread and keep-alive session per connection, for ``load.seconds``."""
    deadline = time.perf_counter() + load.seconds
    parts = [_ClientRecord() for _ in range(load.connections)]
    clients = [
        threading.Thread(target=_python_client, args=(load, ca_file, deadline, part, index))
        for index, part in enumerate(parts)
    ]
    started = time.perf_counter()
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    elapsed = time.perf_counter() - started
    latencies = sorted(latency for part in parts for latency in part.latencies)
    statuses: dict[str, int] = {}
    for part in parts:
        for status, count in part.statuses.items():
            statuses[status] = statuses.get(status, 0) + count
    errors = sum(count for status, count in statuses.items() if not status.startswith("2"))
    return LoadResult(
        requests=len(latencies),
        seconds=elapsed,
        errors=errors,
        p50_ms=percentile_ms(latencies, 50),
        p90_ms=percentile_ms(latencies, 90),
        p99_ms=percentile_ms(latencies, 99),
        writes=sum(part.writes for part in parts),
        statuses=statuses,
    )


@dataclass
class _ClientRecord:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    writes: int = 0


def _python_client(
    load: Load, ca_file: Path | None, deadline: float, into: _ClientRecord, seed: int
) -> None:
    chooser = random.Random(seed)
    with new_session(ca_file) as session:
        while time.perf_counter() < deadline:
            method, path, body = _next_request(load, chooser)
            if method != "GET":
                into.writes += 1
            started = time.perf_counter()
            try:
                response = session.request(
                    method, load.base_url + path, json=body, timeout=REQUEST_TIMEOUT_SECONDS
                )
                response.content  # noqa: B018 - read the whole body inside the timed span
                status = str(response.status_code)
            except requests.RequestException:
                status = "connection error"
            into.latencies.append(time.perf_counter() - started)
            into.statuses[status] = into.statuses.get(status, 0) + 1


def _next_request(load: Load, chooser: random.Random) -> tuple[str, str, dict[str, int] | None]:
    mix = load.mix
    if mix is None:
        return "GET", load.path, None
    if chooser.randrange(100) < mix.write_percent:
        product_id = chooser.choice(mix.write_ids)
        stock = chooser.randint(1000, 1_000_000)
        return "PATCH", f"/api/v1/products/{product_id}/stock", {"stock": stock}
    return "GET", f"/api/v1/products/{chooser.choice(mix.read_ids)}", None


def new_session(ca_file: Path | None = None) -> requests.Session:
    """A keep-alive session; ``trust_env`` off so no proxy or CA variable changes where it goes."""
    session = requests.Session()
    session.trust_env = False
    if ca_file is not None:
        session.verify = str(ca_file)
    return session


def percentile_ms(ordered: list[float], percent: float) -> float | None:
    """Nearest-rank percentile of sorted latencies in seconds, as milliseconds."""
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * percent // 100))  # ceil without floats drifting
    return round(ordered[int(rank) - 1] * 1000, 2)


def median_round(results: list[LoadResult]) -> LoadResult:
    """The round whose requests/s is the median (the lower one of an even count)."""
    chosen = statistics.median_low(result.requests_per_second for result in results)
    return next(result for result in results if result.requests_per_second == chosen)
