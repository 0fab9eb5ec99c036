"""Pulumi entry point: read the config, declare the platform, export the outputs document."""

import os
import sys

# The CLI runs this folder as a script (runpy, cwd = infra/), which puts infra/ itself first on
# sys.path: its modules would then shadow top-level packages of the same name. Import the program as
# the `infra` package from the repository root instead, exactly as the tests and the harness do.
_PROGRAM_DIRECTORY = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry) != _PROGRAM_DIRECTORY]
sys.path.insert(0, os.path.dirname(_PROGRAM_DIRECTORY))

import pulumi  # noqa: E402

from infra.config import load_settings  # noqa: E402
from infra.program import declare_platform  # noqa: E402

for key, value in declare_platform(load_settings()).items():
    pulumi.export(key, value)
