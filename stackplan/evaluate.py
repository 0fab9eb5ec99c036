"""Run one source tree's Pulumi program under mocks, in a subprocess, and return its resources.

A subprocess because the Pulumi runtime is process-global and each tree brings its own `infra`
package: the base and the head of a plan must not share modules. The tree's own `Pulumi.yaml`
(project name) and `Pulumi.<stack>.yaml` (config) are read here, since the mock runtime reads
neither.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stackplan.model import Resource

NAMESPACE = "microstack"
# Config keys the CLI hands to the program as secrets (`pulumi config set --secret`).
SECRET_CONFIG_KEYS = ("tlsCertificate", "tlsPrivateKey")
# The repository that holds this package: put on the child's path so `stackplan` is importable.
_TOOL_ROOT = Path(__file__).resolve().parent.parent
# Far above the ~1 s an evaluation takes; a hung program must not hang a CI job.
TIMEOUT_SECONDS = 300


class EvaluationError(Exception):
    """The program could not be evaluated; `kind` is "config" or "program"."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class StackConfig:
    project: str
    stack: str
    values: Mapping[str, str]  # full key (`microstack:logLevel`) -> value as the CLI passes it
    secret_keys: tuple[str, ...]


def read_stack_config(root: Path, stack: str) -> StackConfig:
    """The project name from `Pulumi.yaml` and the stack's config from `Pulumi.<stack>.yaml`
    (absent means every default, as for a new stack)."""
    project_file = root / "Pulumi.yaml"
    project = _load_yaml(project_file).get("name", NAMESPACE)
    stack_file = root / f"Pulumi.{stack}.yaml"
    config = _load_yaml(stack_file).get("config") or {} if stack_file.exists() else {}
    values: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in config.items():
        full_key = key if ":" in key else f"{project}:{key}"
        if isinstance(value, dict) and "secure" in value:
            raise EvaluationError(
                "config",
                f"{full_key}: an encrypted value in {stack_file.name} cannot be read without the "
                "stack's passphrase; the plan uses plain config only",
            )
        values[full_key] = config_text(value)
    secret_keys = [f"{NAMESPACE}:{key}" for key in SECRET_CONFIG_KEYS]
    return StackConfig(str(project), stack, values, tuple(secret_keys))


def config_text(value: Any) -> str:
    """A config value as the CLI passes it to a program: text, JSON for structures."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return "" if value is None else str(value)


def evaluate_tree(root: Path, config: StackConfig, *, salt: str) -> list[Resource]:
    """The resources the program in `root` declares with `config`; raises EvaluationError."""
    request = {
        "root": str(root.resolve()),
        "project": config.project,
        "stack": config.stack,
        "config": dict(config.values),
        "secret_keys": list(config.secret_keys),
        "salt": salt,
    }
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(_TOOL_ROOT), *filter(None, [environment.get("PYTHONPATH")])]
    )
    with tempfile.TemporaryDirectory(prefix="stackplan-") as scratch:
        result_path = Path(scratch) / "result.json"
        completed = subprocess.run(
            [sys.executable, "-m", "stackplan.child", str(result_path)],
            input=json.dumps(request),
            text=True,
            capture_output=True,
            # The CLI runs the program in its directory; image paths are relative to it.
            cwd=root / "infra",
            env=environment,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
        if not result_path.exists():
            detail = (completed.stderr.strip().splitlines() or ["no output"])[-1]
            raise EvaluationError("program", f"the evaluation crashed: {detail}")
        result = json.loads(result_path.read_text(encoding="utf-8"))
    if "error" in result:
        raise EvaluationError(result["error"]["kind"], result["error"]["message"])
    return [Resource.from_json(item) for item in result["resources"]]


def _load_yaml(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None
    return loaded if isinstance(loaded, dict) else {}
