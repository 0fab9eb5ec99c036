"""scripts/benchmark.py end to end with tiny counts: the report's shape and its correctness checks,
never its timings."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from benchmarking import service_python as service_python_module
from benchmarking.cases import CASES, Options
from benchmarking.load import percentile_ms, wrk_available
from benchmarking.memory import worker_pages
from benchmarking.process_cost import tree_counters
from benchmarking.service_python import isolated_environment_dir, service_python
from benchmarking.stack import MEMORY_BACKED_DIR, edge_body, run_directory_parent
from launchers.processes import MissingBinaryError
from launchers.stack import check_prerequisites
from scripts.benchmark import QUICK, main, parse_command
from tests.support.binaries import binaries_required, missing_binary, running_in_ci


def test_percentile_is_nearest_rank_in_milliseconds() -> None:
    latencies = [n / 1000 for n in range(1, 101)]  # 1 ms .. 100 ms
    assert percentile_ms(latencies, 50) == 50.0
    assert percentile_ms(latencies, 90) == 90.0
    assert percentile_ms(latencies, 99) == 99.0
    assert percentile_ms([0.004], 99) == 4.0
    assert percentile_ms([], 50) is None


def test_quick_sets_tiny_counts_and_explicit_flags_win() -> None:
    command = parse_command(["--quick", "--rounds", "2", "--json", "--client", "python"])
    assert command.options.rounds == 2
    assert command.options.seconds == QUICK["seconds"]
    assert command.options.orders == QUICK["orders"]
    assert command.options.client == "python"
    assert command.json_only is True
    assert parse_command([]).options == Options()


def test_tree_counters_charge_every_thread_and_divide_by_requests() -> None:
    # A thread that blocks a hundred times, then stays (an exited thread's counts leave /proc
    # with it, as they would with a gunicorn thread, which never exits during a case).
    slept, release = threading.Event(), threading.Event()

    def sleep_often() -> None:
        for _ in range(100):
            time.sleep(0.001)
        slept.set()
        release.wait()

    waiter = threading.Thread(target=sleep_often)
    before = tree_counters(os.getpid())
    waiter.start()
    slept.wait(timeout=10)
    deadline = time.process_time() + 0.05
    while time.process_time() < deadline:  # burn CPU time that the tick counters can see
        pass
    after = tree_counters(os.getpid())
    release.set()
    waiter.join()

    cost = before.per_request(after, 10)
    assert cost["context_switches_per_request"] is not None
    assert cost["context_switches_per_request"] >= 100 / 10
    assert cost["service_cpu_us_per_request"] is not None
    assert cost["service_cpu_us_per_request"] > 0
    assert before.per_request(after, 0) == {
        "service_cpu_us_per_request": None,
        "context_switches_per_request": None,
    }


def test_worker_pages_tell_copied_from_own_from_shared() -> None:
    """A forked child that writes to 8 MiB it shares with its parent and allocates 4 MiB."""
    if os.geteuid() != 0:
        reason = "page frame numbers are hidden from a user other than root"
        if running_in_ci():
            pytest.fail(f"CI runs as root: {reason}", pytrace=False)
        pytest.skip(reason)
    size = 8 * 2**20
    shared = bytearray(b"s" * size)  # written before the fork: every page present
    ready_read, ready_write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child, which must never return into pytest
        try:
            shared[::4096] = b"c" * (size // 4096)  # one byte a page: every page copied
            _own = bytearray(b"o" * (4 * 2**20))  # allocated after the fork: its own
            os.write(ready_write, b"1")
            time.sleep(30)
        finally:
            os._exit(0)
    try:
        assert os.read(ready_read, 1) == b"1"
        pages = worker_pages(child, os.getpid())
    finally:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        os.close(ready_read)
        os.close(ready_write)
    assert pages is not None
    assert pages.copied_mb >= 8
    assert pages.own_mb >= 4
    assert pages.shared_mb > 0  # the rest of this process: the child never touched it


def test_nonpositive_counts_are_refused() -> None:
    with pytest.raises(SystemExit):
        parse_command(["--connections", "0"])


def test_edge_body_keeps_the_size_when_nginx_cannot_quote_it() -> None:
    plain = '{"name":"Desk lamp"}'
    assert edge_body(plain) == plain
    awkward = '{"name":"it\'s $5"}'
    assert len(edge_body(awkward)) == len(awkward)
    assert not any(character in edge_body(awkward) for character in "$\\'")


# Each load generator once; the services' interpreter both ways (service_python.py).
@pytest.mark.parametrize(("client", "service_packages"), [("wrk", "isolated"), ("python", "host")])
def test_quick_run_writes_every_case_ratio_and_figure(
    client: str, service_packages: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with binaries_required():
        check_prerequisites()
    if client == "wrk" and not wrk_available():
        missing_binary(MissingBinaryError("wrk", "apt-get install wrk"))
    arguments = ["--quick", "--json", "--client", client, "--output-dir", str(tmp_path)]
    assert main([*arguments, "--service-packages", service_packages]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1, "--json prints the JSON line only"
    report = json.loads(lines[0])
    assert json.loads((tmp_path / "benchmark.json").read_text()) == report
    assert (tmp_path / "benchmark.png").read_bytes().startswith(b"\x89PNG")
    assert report["settings"]["client"] == client
    assert report["settings"]["service_python"]["kind"] == service_packages
    # Memory-backed storage where the machine has it (benchmarking/stack.py says why).
    assert report["settings"]["servers_directory"] == str(run_directory_parent())
    assert run_directory_parent() == MEMORY_BACKED_DIR or not MEMORY_BACKED_DIR.is_dir()
    assert [case["case"] for case in report["cases"]] == [case.key for case in CASES]
    for case in report["cases"]:
        assert case["requests"] > 0 and case["errors"] == 0, case
        assert case["p50_ms"] <= case["p90_ms"] <= case["p99_ms"]
        if case["case"] == "edge":  # nginx answers itself: no gunicorn tree to charge
            assert "service_cpu_us_per_request" not in case
        else:
            assert case["service_cpu_us_per_request"] > 0, case
            assert case["context_switches_per_request"] >= 0, case
    assert all(value is not None for value in report["ratios"].values())
    assert report["cached_cases_misses"] == 0
    mix = report["mix"]
    assert mix["hits"] > 0 and 0 < mix["hit_ratio"] <= 1
    assert mix["read_your_writes"]["ok"] is True
    assert report["cases"][-1]["writes"] > 0
    memory = report["memory_pss_mb"]
    assert set(memory) >= {"users", "products", "orders", "framework ceiling"}
    assert all(megabytes and megabytes > 0 for megabytes in memory.values())
    assert {row["target"] for row in report["targets"]} >= {"mix hit ratio >= 95 %"}
    orders = report["orders"]
    assert orders["created"] == QUICK["stock"] == orders["orders_in_database"]
    assert orders["refused_409"] == QUICK["orders"] - QUICK["stock"]
    assert orders["stock_service"] == orders["stock_database"] == 0
    assert orders["ok"] is True


def test_the_isolated_interpreter_has_the_services_packages_and_nothing_of_the_host_s() -> None:
    python = service_python("isolated", progress=lambda message: None)
    assert python.executable != sys.executable
    run = [python.executable, "-c"]
    subprocess.run([*run, "import flask_openapi3, gunicorn, psycopg2, redis"], check=True)
    # pytest is one of the host's development tools, in no service's requirements.
    assert subprocess.run([*run, "import pytest"], capture_output=True).returncode != 0
    assert service_python("isolated", progress=pytest.fail) == python, "made once, then reused"


def test_the_isolated_interpreter_is_made_again_when_a_requirement_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    requirements = tmp_path / "some-service" / "requirements.txt"
    requirements.parent.mkdir()
    requirements.write_text("flask==3.1.3\n")
    monkeypatch.setattr(service_python_module, "SERVICES_DIR", tmp_path)
    before = isolated_environment_dir()
    requirements.write_text("flask==3.1.4\n")
    assert isolated_environment_dir() != before
