"""The microstack Pulumi program (`main: infra/` in Pulumi.yaml); the CLI runs `__main__.py`."""

import sys
from pathlib import Path

# The program builds the services' environment from servicekit.contract (services/servicekit/),
# and services/ is not an import root of a process started at the repository root (the CLI, the
# engine harness, the plan): append it, so it shadows nothing.
_SERVICES = str(Path(__file__).resolve().parent.parent / "services")
if _SERVICES not in sys.path:
    sys.path.append(_SERVICES)
