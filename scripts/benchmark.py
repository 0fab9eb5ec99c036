"""``python -m scripts.benchmark``: cached reads against the edge and framework ceilings.

It starts its own throwaway stack on 127.0.0.1 (the devstack's PostgreSQL, Redis, services and
nginx, plus a product service without Redis, a trivial Flask view and two more gateways with the
rate limit raised), measures every case through the TLS gateway with wrk in alternating rounds,
prints a table with the ratios and the targets, writes benchmark.json and benchmark.png, and stops
every server on the way out, also on an error, Ctrl-C or SIGTERM. The logic is in benchmarking/.

Performance is reported, never asserted; the exit status is 2 when a correctness check failed
(read-your-writes during the mix, or the orders' stock arithmetic).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from types import FrameType

from benchmarking.cases import Options, run_benchmark
from benchmarking.report import format_table, write_outputs
from benchmarking.service_python import CHOICES, ServicePythonError
from benchmarking.stack import BenchmarkError
from launchers.processes import MissingBinaryError
from launchers.stack import StackError

DEFAULT_OUTPUT_DIR = Path("benchmark-results")
QUICK = {
    "seconds": 1.0,
    "rounds": 1,
    "connections": 4,
    "warmup_seconds": 0.5,
    "orders": 12,
    "stock": 5,
}
OPTION_NAMES = frozenset(option.name for option in fields(Options))


@dataclass(frozen=True)
class Command:
    options: Options
    output_dir: Path
    json_only: bool


def parse_command(argv: Sequence[str] | None) -> Command:
    parser = argparse.ArgumentParser(prog="python -m scripts.benchmark", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    defaults = Options()
    parser.add_argument(
        "--seconds", type=_positive_float, help=f"per case and round ({defaults.seconds:g})"
    )
    parser.add_argument("--rounds", type=_positive_int, help=f"rounds ({defaults.rounds})")
    parser.add_argument(
        "--connections", type=_positive_int, help=f"keep-alive connections ({defaults.connections})"
    )
    parser.add_argument("--threads", type=_positive_int, help=f"wrk threads ({defaults.threads})")
    parser.add_argument(
        "--warmup-seconds", type=_positive_float, help=f"per case ({defaults.warmup_seconds:g})"
    )
    parser.add_argument("--orders", type=_positive_int, help=f"order POSTs ({defaults.orders})")
    parser.add_argument(
        "--stock", type=_positive_int, help=f"their product's stock ({defaults.stock})"
    )
    parser.add_argument(
        "--profile-seconds",
        type=_positive_float,
        help="then sample one product worker with py-spy under the cached-item load this long",
    )
    parser.add_argument(
        "--client",
        choices=("auto", "wrk", "python"),
        help="load generator: wrk, or the Python fallback (auto: wrk when installed)",
    )
    parser.add_argument(
        "--service-packages",
        choices=CHOICES,
        help="run the services with their image's packages only, in a virtualenv made once"
        " (isolated, the default), or with the host's interpreter and whatever it has (host)",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=DEFAULT_OUTPUT_DIR,
        help=f"where benchmark.json and benchmark.png go ({DEFAULT_OUTPUT_DIR})",
    )
    parser.add_argument("--quick", action="store_true", help="tiny counts (a smoke run)")
    parser.add_argument("--json", action="store_true", help="print only the JSON report")
    arguments = parser.parse_args(argv)
    overrides = {
        name: value
        for name, value in vars(arguments).items()
        if name in OPTION_NAMES and value is not None
    }
    chosen = {**(QUICK if arguments.quick else {}), **overrides}
    return Command(replace(defaults, **chosen), arguments.output_dir, arguments.json)


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


def progress(message: str) -> None:
    print(f"benchmark: {message}", file=sys.stderr, flush=True)


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # SystemExit unwinds through benchmark_stack's `finally`, which stops every server.
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    command = parse_command(argv)
    previous_handler = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        report = run_benchmark(command.options, progress)
    except (StackError, MissingBinaryError, BenchmarkError, ServicePythonError) as error:
        print(f"benchmark: {error}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
    json_path, png_path = write_outputs(report, command.output_dir)
    if not command.json_only:
        print(format_table(report), end="\n\n")
        print(f"wrote {json_path} and {png_path}\n")
    print(json.dumps(report, separators=(",", ":")))
    correct = report["orders"]["ok"] and report["mix"]["read_your_writes"]["ok"]
    return 0 if correct else 2


if __name__ == "__main__":
    sys.exit(main())
