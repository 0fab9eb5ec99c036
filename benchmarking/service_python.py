"""The interpreter the benchmark runs the services with: by default a virtualenv holding exactly the
packages of their image (``services/*/requirements.txt``), so that the memory it reports is the
image's.

Why not the host's interpreter: a host has packages for other reasons, and some change what a
service loads. Here Pulumi brings the OpenTelemetry SDK, which redis-py 8 imported whenever it
found it: 2 MB more per process tree than in the image. ``--service-packages host`` measures the
host's interpreter all the same.

The virtualenv is made once per set of requirements and Python version, under
``~/.cache/microstack`` (``XDG_CACHE_HOME``), and reused; making it needs the package index.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from servicekit.contract import INTERPRETER_ENVIRONMENT

from launchers.paths import SERVICES_DIR

CHOICES = ("isolated", "host")
READY_MARKER = ".microstack-ready"


class ServicePythonError(RuntimeError):
    """The isolated interpreter could not be made (no package index, no venv module...)."""


@dataclass(frozen=True)
class ServicePython:
    kind: str  # one of CHOICES
    executable: str

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "executable": self.executable}


def service_python(choice: str, progress: Callable[[str], None]) -> ServicePython:
    if choice == "host":
        return ServicePython("host", sys.executable)
    if choice != "isolated":
        raise ValueError(f"service packages: {choice!r} is not one of {CHOICES}")
    environment = isolated_environment_dir()
    if not (environment / READY_MARKER).is_file():
        progress(f"making {environment}: the services' own packages (once; needs the index)")
        make_isolated_environment(environment)
    return ServicePython("isolated", str(environment / "bin" / "python"))


def requirement_files() -> list[Path]:
    return sorted(SERVICES_DIR.glob("*/requirements.txt"))


def isolated_environment_dir() -> Path:
    digest = hashlib.sha256(sys.version.encode())
    for path in requirement_files():
        digest.update(path.relative_to(SERVICES_DIR).as_posix().encode() + path.read_bytes())
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "microstack" / f"service-python-{digest.hexdigest()[:16]}"


def make_isolated_environment(environment: Path) -> None:
    shutil.rmtree(environment, ignore_errors=True)  # what an interrupted attempt left
    python = str(environment / "bin" / "python")
    requirements = [argument for path in requirement_files() for argument in ("-r", str(path))]
    # Under the services' interpreter settings, pip compiles what it installs as they load it
    # (*.opt-2.pyc); the standard library is the host's, compiled alike where it can be written.
    run = {**os.environ, **INTERPRETER_ENVIRONMENT}
    stdlib = sysconfig.get_path("stdlib")
    steps = [
        [sys.executable, "-m", "venv", str(environment)],
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *requirements],
    ]
    for step in steps:
        finished = subprocess.run(step, capture_output=True, text=True, env=run, check=False)
        if finished.returncode != 0:
            shutil.rmtree(environment, ignore_errors=True)
            raise ServicePythonError(
                f"could not make the services' interpreter ({' '.join(step[:4])} ...):"
                f" {finished.stderr.strip()[-600:]}\n"
                "or measure with the host's packages: --service-packages host"
            )
    if os.access(stdlib, os.W_OK):
        # Best effort: a few files there are test data that does not compile, on purpose.
        compile_stdlib = [python, "-m", "compileall", "-q", "-j", "0", stdlib]
        subprocess.run(compile_stdlib, capture_output=True, env=run, check=False)
    (environment / READY_MARKER).write_text("")
