"""scripts/benchmark.py: the report's shape and its correctness line, never its timings."""

from __future__ import annotations

import json

import pytest

from launchers.stack import check_prerequisites
from scripts.benchmark import QUICK, Options, main, parse_options, percentile_ms
from tests.support.binaries import binaries_required

CASE_PREFIXES = (
    "products item, cache warm",
    "products item, cache unavailable",
    "products list, cache warm",
    "products list, cache unavailable",
    "direct to service, keep-alive",
    "gateway https, keep-alive",
    "gateway https, new connection",
    "orders POST",
)


def test_percentile_is_nearest_rank_in_milliseconds() -> None:
    latencies = [n / 1000 for n in range(1, 101)]  # 1 ms .. 100 ms
    assert percentile_ms(latencies, 50) == 50.0
    assert percentile_ms(latencies, 95) == 95.0
    assert percentile_ms(latencies, 99) == 99.0
    assert percentile_ms([0.004], 99) == 4.0
    assert percentile_ms([], 50) is None


def test_quick_sets_tiny_counts_and_explicit_flags_win() -> None:
    options = parse_options(["--quick", "--requests", "7", "--json"])
    assert options.requests == 7
    assert options.threads == QUICK["threads"]
    assert options.orders == QUICK["orders"]
    assert options.json_only is True
    assert parse_options([]) == Options()


def test_nonpositive_counts_are_refused() -> None:
    with pytest.raises(SystemExit):
        parse_options(["--threads", "0"])


def test_quick_run_prints_one_json_report_with_every_case(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with binaries_required():
        check_prerequisites()
    assert main(["--quick", "--json"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1, "--json prints the JSON line only"
    report = json.loads(lines[0])
    names = [case["case"] for case in report["cases"]]
    assert [any(n.startswith(p) for n in names) for p in CASE_PREFIXES] == [True] * 8
    for case in report["cases"]:
        assert sum(case["statuses"].values()) == case["requests"]
        assert case["errors"] == 0 and case["truncated"] is False
        assert case["p50_ms"] <= case["p95_ms"] <= case["p99_ms"]
    assert {case["requests"] for case in report["cases"][:4]} == {QUICK["requests"]}
    assert all(value is not None for value in report["ratios"].values())
    assert report["cache_counters_during_warm_runs"]["misses"] == 0
    orders = report["orders"]
    assert orders["created"] == QUICK["stock"] == orders["orders_in_database"]
    assert orders["refused_409"] == QUICK["orders"] - QUICK["stock"]
    assert orders["stock_service"] == orders["stock_database"] == 0
    assert orders["ok"] is True
