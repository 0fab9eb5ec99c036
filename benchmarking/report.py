"""The benchmark's outputs: a table for people, a JSON of every figure, a PNG."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PNG_NAME = "benchmark.png"
JSON_NAME = "benchmark.json"


def format_table(report: dict[str, Any]) -> str:
    settings, machine = report["settings"], report["machine"]
    gunicorn, limit = settings["gunicorn"], settings["gateway_rate_limit"]
    cases = {case["case"]: case for case in report["cases"]}
    framework, edge = cases["framework"], cases["edge"]
    lines = [
        f"microstack benchmark: {machine['cpus']} x {machine['cpu']}, Python {machine['python']},"
        f" {machine['nginx'] or 'nginx ?'}",
        f"load: {settings['client']}, {settings['connections']} connections,"
        f" {settings['client_threads']} threads, {settings['seconds_per_case']:g} s per case,"
        f" {settings['rounds']} alternating rounds (median round shown);"
        f" gunicorn {gunicorn['worker_class']} {gunicorn['workers']} workers x"
        f" {gunicorn['threads']} threads",
        f"gateway rate limit raised to {limit['per_second']} r/s, burst {limit['burst']},"
        " for the measurement (the stack's default is 50 r/s, burst 100);"
        f" servers' data and logs in {settings.get('servers_directory', '?')}",
        _service_python_line(settings.get("service_python")),
        "",
        f"{'case':<46}{'req/s':>9}{'x fw':>7}{'x edge':>8}{'p50 ms':>9}{'p90 ms':>9}"
        f"{'p99 ms':>9}{'p99 x fw':>10}{'errors':>8}",
    ]
    for case in report["cases"]:
        lines.append(
            f"{case['label']:<46}{case['requests_per_second']:>9.0f}"
            f"{_ratio(case['requests_per_second'], framework['requests_per_second']):>7}"
            f"{_ratio(case['requests_per_second'], edge['requests_per_second']):>8}"
            f"{_number(case['p50_ms']):>9}{_number(case['p90_ms']):>9}{_number(case['p99_ms']):>9}"
            f"{_ratio(case['p99_ms'], framework['p99_ms']):>10}{case['errors']:>8}"
        )
    mix = report["mix"]
    ryw = mix["read_your_writes"]
    lines += [
        "",
        *_cost_lines(report["cases"]),
        "ratios (median of the per-round ratios):",
        *(f"  {name:<34}{_number(value)}" for name, value in report["ratios"].items()),
        f"mix: hit ratio {_percent(mix['hit_ratio'])} ({mix['hits']} hits, {mix['misses']} misses);"
        f" read-your-writes {'OK' if ryw['ok'] else 'VIOLATED'}"
        f" ({ryw['checks']} checks, {ryw['violations']} stale reads)",
        f"cache misses during the cached item/list runs: {report['cached_cases_misses']}",
        "process tree PSS after the run (MB): "
        + ", ".join(f"{name} {_number(mb)}" for name, mb in report["memory_pss_mb"].items()),
        *_worker_pages_lines(report.get("memory_first_worker_mb")),
        _orders_line(report["orders"]),
        *_profile_lines(report.get("profile_cached_item")),
        "",
        "targets:",
        *(
            f"  [{'met' if row['met'] else 'MISSED'}] {row['target']}: {_number(row['value'])}"
            for row in report["targets"]
        ),
    ]
    return "\n".join(lines)


def _cost_lines(cases: list[dict[str, Any]]) -> list[str]:
    """Per request, in the gunicorn tree that served the case (median round; nginx not counted)."""
    served = [case for case in cases if case.get("service_cpu_us_per_request") is not None]
    if not served:
        return []
    return [
        "cost per request in the serving gunicorn tree (median round):",
        *(
            f"  {case['label']:<44}{_number(case['service_cpu_us_per_request']):>9} us CPU"
            f"{_number(case['context_switches_per_request']):>8} context switches"
            for case in served
        ),
        "",
    ]


def markdown_table(report: dict[str, Any]) -> str:
    """The README's table: the same figures as the console table."""
    cases = {case["case"]: case for case in report["cases"]}
    framework = cases["framework"]
    rows = [
        "| case | req/s | x framework | p50 ms | p90 ms | p99 ms | p99 x framework | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for case in report["cases"]:
        rows.append(
            f"| {case['label']} | {case['requests_per_second']:.0f}"
            f" | {_ratio(case['requests_per_second'], framework['requests_per_second'])}"
            f" | {_number(case['p50_ms'])} | {_number(case['p90_ms'])} | {_number(case['p99_ms'])}"
            f" | {_ratio(case['p99_ms'], framework['p99_ms'])} | {case['errors']} |"
        )
    return "\n".join(rows)


def write_outputs(report: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / JSON_NAME
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    png_path = directory / PNG_NAME
    write_png(report, png_path)
    return json_path, png_path


def write_png(report: dict[str, Any], path: Path) -> None:
    """req/s and p99 per case, the two ceilings drawn across as lines."""
    import matplotlib

    matplotlib.use("Agg")  # no display: write the file only
    import matplotlib.pyplot as plt

    cases = report["cases"]
    by_key = {case["case"]: case for case in cases}
    labels = [case["label"].replace(", ", ",\n", 1) for case in cases]
    figure, (throughput, latency) = plt.subplots(1, 2, figsize=(14, 6))
    positions = list(range(len(cases)))
    panels = (
        (throughput, "requests_per_second", "requests/s (higher is better)"),
        (latency, "p99_ms", "p99 latency, ms (lower is better)"),
    )
    for axis, figure_name, title in panels:
        values = [case[figure_name] or 0 for case in cases]
        axis.bar(positions, values, color="#4c72b0")
        for key, style in (("edge", ":"), ("framework", "--")):
            ceiling = by_key[key][figure_name]
            if ceiling:
                axis.axhline(ceiling, linestyle=style, color="#c44e52", label=f"{key} ceiling")
        axis.set_title(title)
        axis.set_xticks(positions, labels, rotation=30, ha="right", fontsize=8)
        axis.legend(fontsize=8)
    throughput.set_yscale("log")
    settings, machine = report["settings"], report["machine"]
    figure.suptitle(
        f"microstack through the TLS gateway: {settings['client']}, {settings['connections']}"
        f" connections, {machine['cpus']} CPUs ({machine['cpu']})",
        fontsize=10,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _profile_lines(profile: dict[str, float] | None) -> list[str]:
    if not profile:
        return []
    return [
        "profile of one product worker, cached item (share of busy samples):",
        *(f"  {share:5.1f} %  {name}" for name, share in profile.items()),
    ]


def _orders_line(orders: dict[str, Any]) -> str:
    verdict = "OK" if orders["ok"] else "WRONG"
    return (
        f"orders correctness: {orders['created']} created, {orders['refused_409']} refused 409, "
        f"{orders['other']} other; stock now {orders['stock_service']} (service) / "
        f"{orders['stock_database']} (database); {orders['orders_in_database']} orders in the "
        f"database: {verdict}"
    )


def _ratio(value: float | None, ceiling: float | None) -> str:
    if not value or not ceiling:
        return "n/a"
    return f"{value / ceiling:.2f}"


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f} %"


def _worker_pages_lines(pages: dict[str, dict[str, float] | None] | None) -> list[str]:
    if not pages or not any(pages.values()):
        return []  # frame numbers need root (memory.py)
    return [
        "first worker's heap against its master's (MB): shared / copied on write / its own",
        *(
            f"  {name:<44}{page['shared_mb']:>8.1f}{page['copied_mb']:>8.1f}{page['own_mb']:>8.1f}"
            for name, page in pages.items()
            if page is not None
        ),
    ]


def _service_python_line(python: dict[str, str] | None) -> str:
    if python is None:
        return "services' interpreter: not recorded"
    if python["kind"] == "isolated":
        return f"services' interpreter: their image's packages only ({python['executable']})"
    return f"services' interpreter: the host's, with whatever it has ({python['executable']})"
