"""Evaluate another checkout's Pulumi program under mocks and print its resources' URNs as JSON.

Run as a script with that checkout's folders first on sys.path, so `infra` is its program:
    python tests/support/checkout_urns.py <checkout> [<config as JSON>]
It loads this file's sibling `pulumi_program.py` by path (the checkout's own copy may be older).
Output: a JSON list of {"urn", "type", "name", "custom", "aliases"} in registration order.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType


def _load_runner() -> ModuleType:
    path = Path(__file__).with_name("pulumi_program.py")
    spec = importlib.util.spec_from_file_location("checkout_pulumi_program", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Dataclasses look their module up in sys.modules while the class is being made.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main(checkout: Path, config: dict[str, object]) -> None:
    sys.path[:0] = [str(checkout), str(checkout / "services")]
    runner = _load_runner()
    mocks = runner.RecordingMocks()
    runner.run_program(mocks, config, sources=checkout)
    resources = [
        {
            "urn": mocks.placements[(r.type, r.name)].urn,
            "type": r.type,
            "name": r.name,
            "custom": r.custom,
            "aliases": sorted(mocks.placements[(r.type, r.name)].aliases),
        }
        for r in mocks.resources
    ]
    json.dump(resources, sys.stdout, indent=1)


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve(), json.loads(sys.argv[2]) if len(sys.argv) > 2 else {})
