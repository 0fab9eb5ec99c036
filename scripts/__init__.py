"""Entry points a person runs: ``python -m scripts.devstack``, ``python -m scripts.benchmark``.

The launchers they use read the service contract from servicekit, which lives under services/ and
is not an import root of ``python -m scripts...`` run from the repository: make it one (appended,
so it shadows nothing). pytest gets the same from ``pythonpath`` in pyproject.toml.
"""

from __future__ import annotations

import sys

from launchers.paths import SERVICES_DIR

if str(SERVICES_DIR) not in sys.path:
    sys.path.append(str(SERVICES_DIR))
