"""``python -m scripts.devstack up|down|status [--run-dir DIR]``: the local stack, no Docker."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from launchers.paths import REPOSITORY_ROOT
from launchers.processes import MissingBinaryError
from launchers.stack import LocalStack, StackError, recorded_status, stop_recorded

DEFAULT_RUN_DIR = REPOSITORY_ROOT / ".devstack"


def main(argv: list[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    run_dir = arguments.run_dir.resolve()
    if arguments.command == "up":
        return _up(run_dir)
    if arguments.command == "down":
        stop_recorded(run_dir)
        print(f"stopped the local stack and removed {run_dir}")
        return 0
    return _status(run_dir)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scripts.devstack", description=__doc__)
    parser.add_argument("command", choices=("up", "down", "status"))
    parser.add_argument(
        "--run-dir",
        type=Path,
        default=Path(os.environ.get("MICROSTACK_DEVSTACK_DIR", DEFAULT_RUN_DIR)),
        help="where processes keep data, logs and the outputs document "
        "(default: $MICROSTACK_DEVSTACK_DIR or .devstack/ in the repository)",
    )
    return parser


def _up(run_dir: Path) -> int:
    try:
        outputs_path = LocalStack(run_dir).up()
    except (StackError, MissingBinaryError) as error:
        print(f"devstack: {error}", file=sys.stderr)
        return 1
    # The document holds passwords: print where it is, never what it says.
    print(outputs_path)
    return 0


def _status(run_dir: Path) -> int:
    processes = recorded_status(run_dir)
    if not processes:
        print(f"no local stack recorded in {run_dir}")
        return 1
    for name, alive in processes.items():
        print(f"{name:10} {'running' if alive else 'stopped'}")
    return 0 if all(processes.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
