"""Parsers for raw config strings: each returns a typed value or raises ConfigError naming the key.

The Pulumi engine hands every config value to the program as a string (numbers and booleans
included, lists as JSON), so parsing is ours to do, once, with messages a user can act on.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable

import pulumi

NAMESPACE = "microstack"

# A Docker image reference: [registry[:port]/]path[:tag][@sha256:digest]. Deliberately strict: a
# tag or digest is required and `latest` is refused, so two `pulumi up`s deploy the same bits.
_REFERENCE_NAME = re.compile(
    r"^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*$"
)
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_REGISTRY_HOST = re.compile(r"^[a-zA-Z0-9.-]+(?::[0-9]{1,5})?$")
_REGISTRY_PATH = re.compile(r"^[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*$")
_ORIGIN = re.compile(
    r"^https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?$|^https?://\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?$"
)


class ConfigError(pulumi.RunError):
    """A configuration value is missing or invalid; the message names the key and what is allowed.

    A RunError, so that the Pulumi CLI prints the message without a Python traceback.
    """

    def __init__(
        self, key: str, allowed: str, got: object | None = None, *, show: bool = True
    ) -> None:
        shown = f", got {got!r}" if show and got is not None else ""
        super().__init__(f"{NAMESPACE}:{key}: expected {allowed}{shown}")
        self.key = key


def parse_int(key: str, raw: str, *, minimum: int, maximum: int) -> int:
    allowed = f"an integer from {minimum} to {maximum}"
    try:
        value = int(raw.strip(), 10)
    except ValueError:
        raise ConfigError(key, allowed, raw) from None
    if not minimum <= value <= maximum:
        raise ConfigError(key, allowed, raw)
    return value


def parse_optional_int(key: str, raw: str, *, minimum: int, maximum: int) -> int | None:
    """An integer, or None when left empty ("use the general setting")."""
    if not raw.strip():
        return None
    return parse_int(key, raw, minimum=minimum, maximum=maximum)


def parse_port(key: str, raw: str) -> int:
    return parse_int(key, raw, minimum=1, maximum=65535)


def parse_positive_int(key: str, raw: str, *, maximum: int = 1_000_000) -> int:
    return parse_int(key, raw, minimum=1, maximum=maximum)


def parse_bool(key: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    raise ConfigError(key, "true or false", raw)


def parse_ip_address(key: str, raw: str) -> str:
    try:
        return str(ipaddress.ip_address(raw.strip()))
    except ValueError:
        raise ConfigError(key, "an IPv4 or IPv6 address such as 127.0.0.1", raw) from None


def parse_choice(
    key: str, raw: str, choices: Iterable[str], *, case: Callable[[str], str] = str.upper
) -> str:
    """One of `choices`, compared after `case` (upper: `INFO`; lower: `swarm`)."""
    options = tuple(choices)
    value = case(raw.strip())
    if value not in options:
        raise ConfigError(key, "one of " + ", ".join(options), raw)
    return value


def parse_keyword(key: str, raw: str, choices: Iterable[str]) -> str:
    """One of a few lowercase words (`containers`, `swarm`), compared case-insensitively."""
    return parse_choice(key, raw, choices, case=str.lower)


def parse_registry(key: str, raw: str) -> str | None:
    """`host[:port][/path]`, or None when empty (images stay on the engine that builds them).

    The host must contain a dot or a port, or be `localhost`: Docker reads any other first part
    as a Docker Hub namespace and would push there.
    """
    value = raw.strip().rstrip("/")
    if not value:
        return None
    host, _, path = value.partition("/")
    if not (
        _REGISTRY_HOST.match(host)
        and ("." in host or ":" in host or host == "localhost")
        and (not path or _REGISTRY_PATH.match(path))
    ):
        raise ConfigError(
            key, "a registry host[:port][/path], e.g. registry.example.com:5000/microstack", raw
        )
    return value


def parse_image_reference(key: str, raw: str) -> str:
    allowed = (
        "an image reference with a pinned tag or digest, e.g. postgres:15.10-bookworm (not latest)"
    )
    reference = raw.strip()
    name, _, digest = reference.partition("@")
    if digest and not _DIGEST.match(digest):
        raise ConfigError(key, allowed, raw)
    # The tag follows the last ':' after the last '/', so a registry port is not taken for a tag.
    slash = name.rfind("/")
    colon = name.rfind(":")
    repository, tag = (name[:colon], name[colon + 1 :]) if colon > slash else (name, "")
    if not _REFERENCE_NAME.match(repository) or (tag and not _TAG.match(tag)):
        raise ConfigError(key, allowed, raw)
    if not (tag or digest) or tag == "latest":
        raise ConfigError(key, allowed, raw)
    return reference


def parse_origins(key: str, raw: str) -> tuple[str, ...]:
    """Accept a comma-separated string or a YAML list (which the engine passes as JSON)."""
    text = raw.strip()
    items: list[object]
    if text.startswith("["):
        try:
            items = list(json.loads(text))
        except ValueError:
            raise ConfigError(key, "a list of origins or a comma-separated string", raw) from None
    else:
        items = [part.strip() for part in text.split(",") if part.strip()]
    origins = []
    for item in items:
        if not isinstance(item, str) or not _ORIGIN.match(item):
            raise ConfigError(
                key, "origins like https://app.example.com (scheme://host[:port])", item
            )
        origins.append(item)
    return tuple(sorted(set(origins)))


def require_distinct_ports(ports: dict[str, int]) -> None:
    """Published host ports must not collide: the second bind would fail only at `up` time."""
    seen: dict[int, str] = {}
    for key in sorted(ports):
        port = ports[key]
        if port in seen:
            raise ConfigError(key, f"a host port different from {NAMESPACE}:{seen[port]} ({port})")
        seen[port] = key
