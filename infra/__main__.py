"""Pulumi entry point: read the config, declare the platform, export the outputs document."""

import sys
from pathlib import Path

# The CLI runs this folder as a script, so only infra/ is on sys.path; the program imports itself as
# the `infra` package from the repository root, exactly as the tests and the engine harness do.
_REPOSITORY_ROOT = str(Path(__file__).resolve().parent.parent)
if _REPOSITORY_ROOT not in sys.path:
    sys.path.insert(0, _REPOSITORY_ROOT)

import pulumi  # noqa: E402

from infra.config import load_settings  # noqa: E402
from infra.platform import declare_platform  # noqa: E402

for key, value in declare_platform(load_settings()).items():
    pulumi.export(key, value)
