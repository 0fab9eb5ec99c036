"""Fake outputs for the resources whose outputs the program reads, shared by every mock.

The mock unit tests (tests/support/pulumi_program.py) and the plan's evaluator answer registrations
with the inputs plus these values, so the two never disagree about what a fake looks like.
Secrets start with `mocksecret`, so a scan of any output can find a leaked one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from pulumi.runtime import rpc

IMAGE = "docker:index/image:Image"
MOCK_SECRET_MARKER = "mocksecret"


def unwrap_secrets(value: Any) -> Any:
    """A recorded input without Pulumi's secret wrappers, recursively (what a fake may read)."""
    value = rpc.unwrap_rpc_secret(value)
    if isinstance(value, dict):
        return {key: unwrap_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(item) for item in value]
    return value


def _token(resource_type: str, name: str) -> str:
    return hashlib.sha256(f"{resource_type}/{name}".encode()).hexdigest()


def name_addressed_outputs(
    resource_type: str, name: str, inputs: Mapping[str, Any]
) -> dict[str, Any]:
    """Outputs that depend on the resource's type and name only: stable across evaluations."""
    token = _token(resource_type, name)
    fakes: dict[str, Callable[[], dict[str, Any]]] = {
        IMAGE: lambda: {"repoDigest": f"sha256:{token}"},
        "docker:index/remoteImage:RemoteImage": lambda: {
            "imageId": f"sha256:{token}",
            "repoDigest": f"{inputs.get('name')}@sha256:{token}",
        },
        "random:index/randomPassword:RandomPassword": lambda: {
            "result": f"{MOCK_SECRET_MARKER}{token[:30]}"
        },
        "tls:index/privateKey:PrivateKey": lambda: {
            "privateKeyPem": f"-----BEGIN PRIVATE KEY-----\n{MOCK_SECRET_MARKER}{token[:30]}\n"
            "-----END PRIVATE KEY-----\n"
        },
        "tls:index/selfSignedCert:SelfSignedCert": lambda: {
            "certPem": f"-----BEGIN CERTIFICATE-----\nmockcert{token[:30]}\n"
            "-----END CERTIFICATE-----\n"
        },
    }
    make = fakes.get(resource_type)
    return make() if make else {}


def content_addressed_outputs(
    resource_type: str, name: str, inputs: Mapping[str, Any], plain_inputs: Any
) -> dict[str, Any]:
    """As `name_addressed_outputs`, but a built image's ID follows from its build inputs, as an
    engine's does: a rebuilt base image reaches the images built FROM it and the containers that
    run them. `plain_inputs` are the inputs with secret wrappers removed."""
    if resource_type != IMAGE:
        return name_addressed_outputs(resource_type, name, inputs)
    recipe = json.dumps(plain_inputs, sort_keys=True, default=str)
    return {"repoDigest": f"sha256:{hashlib.sha256(recipe.encode()).hexdigest()}"}
