"""`python -m tests.engine up|down`: the declared stack on the local Docker engine, without Pulumi.

python -m tests.engine.build_base_images    # once per machine (cached afterwards)
python -m tests.engine up                    # writes .engine/ci/outputs.json
python -m tests.engine up                    # again: applies what changed, as `pulumi up` does
python -m tests.engine up --source DIR       # build and upload from another tree (a modified copy)
MICROSTACK_OUTPUTS=.engine/ci/outputs.json python -m pytest tests/e2e
python -m tests.engine down                  # --keep-data keeps the volumes
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tests.engine.engine import DockerEngine
from tests.engine.ledger import Ledger
from tests.engine.stack import DEFAULT_STACK, PROJECT, REPOSITORY, StackFiles, tear_down, up


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    files = StackFiles.of(arguments.stack)
    started = time.monotonic()
    if arguments.command == "up":
        stack = up(
            arguments.stack,
            files=files,
            source=arguments.source,
            tear_down_on_failure=not arguments.keep_on_failure,
        )
        print(stack.summary.render(), end="")
        print(stack.memory.render())
        print(f"stack {arguments.stack} is up and healthy in {time.monotonic() - started:.0f}s")
        print(f"outputs document: {files.outputs}")
        return 0
    engine = DockerEngine(PROJECT, arguments.stack, Ledger.load(files.ledger))
    left = tear_down(engine, keep_data=arguments.keep_data, swarm_record=files.swarm)
    files.outputs.unlink(missing_ok=True)
    files.state.unlink(missing_ok=True)
    if left:
        print("still present after teardown: " + ", ".join(left), file=sys.stderr)
        return 1
    print(f"stack {arguments.stack} removed in {time.monotonic() - started:.0f}s")
    return 0


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.engine", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("command", choices=("up", "down"))
    parser.add_argument(
        "--stack",
        default=DEFAULT_STACK,
        help=f"stack name; its config is Pulumi.<stack>.yaml in {REPOSITORY} (default ci)",
    )
    parser.add_argument(
        "--source",
        type=Path,
        default=None,
        help="up: a repository tree to build and upload from (default: this checkout)",
    )
    parser.add_argument(
        "--keep-data", action="store_true", help="down: keep the PostgreSQL and Redis volumes"
    )
    parser.add_argument(
        "--keep-on-failure",
        action="store_true",
        help="up: leave a failed stack running for inspection (remove it with `down`)",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
