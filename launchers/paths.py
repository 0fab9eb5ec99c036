"""Where the launchers find the repository's files: services, database scripts, nginx template."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Only for the annotation: scripts/__init__.py reads SERVICES_DIR to make servicekit importable.
    from servicekit.contract import ServiceDefinition

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
SERVICES_DIR = REPOSITORY_ROOT / "services"


def service_directory(service: ServiceDefinition) -> Path:
    """The service's folder: its build context, and the working directory of its gunicorn."""
    return SERVICES_DIR / service.folder
