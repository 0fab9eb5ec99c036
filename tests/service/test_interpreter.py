"""The services under the interpreter settings of their image (servicekit/contract.py,
INTERPRETER_ENVIRONMENT): what they serve depends on neither docstrings nor asserts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from servicekit.contract import INTERPRETER_ENVIRONMENT, SERVICES

from launchers.paths import SERVICES_DIR, service_directory


def openapi_document(service: str, interpreter_environment: dict[str, str]) -> Any:
    definition = SERVICES[service]
    package = definition.package
    script = f"import json, {package}; print(json.dumps({package}.create_app().api_doc))"
    environment = {
        key: value for key, value in os.environ.items() if key not in INTERPRETER_ENVIRONMENT
    }
    python_path = os.pathsep.join([str(SERVICES_DIR), str(service_directory(definition))])
    finished = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        # Building the app connects to nothing: the passwords are only required to be there.
        env={
            **environment,
            "PYTHONPATH": python_path,
            "DATABASE_PASSWORD": "unused",
            "REDIS_PASSWORD": "unused",
            **interpreter_environment,
        },
    )
    return json.loads(finished.stdout)


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_the_openapi_document_is_the_same_without_docstrings(service: str) -> None:
    optimized = openapi_document(service, INTERPRETER_ENVIRONMENT)
    assert optimized == openapi_document(service, {})
    assert "description" in optimized["components"]["schemas"]["ErrorResponse"]
