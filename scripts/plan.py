"""`python -m scripts.plan`: what applying a change would do to a stack, before it is applied.

Evaluates the Pulumi program (under mocks: nothing is created, no backend, no CLI) at a base and at
a head, each with its own Pulumi.<stack>.yaml and sources, and prints the difference as steps:
create, update, replace, delete. See README "Reviewing a change" and docs/architecture.md.

Exit codes: 0 no change (or any plan without --detailed-exitcode), 2 changes with
--detailed-exitcode, 1 an error (one line on stderr).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stackplan.checkout import GitError, repository_root
from stackplan.compare import PlanError, Request, compute
from stackplan.render import RENDERERS


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m scripts.plan", description=__doc__)
    parser.add_argument(
        "--base", help="git ref of the deployed side (default: merge base with main)"
    )
    parser.add_argument("--head", help="git ref of the change (default: the working tree)")
    parser.add_argument("--stack", default="dev", help="stack whose Pulumi.<stack>.yaml to use")
    parser.add_argument("--format", choices=sorted(RENDERERS), default="text")
    parser.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 2 when the plan has changes, 0 when it has none",
    )
    parser.add_argument("--repository", type=Path, default=Path.cwd(), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(sys.argv[1:] if argv is None else argv)
    try:
        repository = repository_root(arguments.repository)
        plan, heading = compute(
            Request(repository, arguments.stack, arguments.base, arguments.head)
        )
    except (PlanError, GitError) as error:
        print(f"plan: error: {error}", file=sys.stderr)
        return 1
    sys.stdout.write(RENDERERS[arguments.format](plan, heading))
    return 2 if arguments.detailed_exitcode and plan.has_changes else 0


if __name__ == "__main__":
    sys.exit(main())
