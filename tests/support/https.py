"""HTTPS clients that verify the gateway's certificate (never ``verify=False``)."""

from __future__ import annotations

import ssl
import warnings
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry


def write_ca_file(certificate_pem: str, directory: Path) -> Path:
    path = directory / "gateway-ca.pem"
    path.write_text(certificate_pem)
    return path


def gateway_session(ca_file: Path, retry_rate_limited: bool = False) -> requests.Session:
    """A session that trusts exactly ``ca_file``.

    ``trust_env`` is off: otherwise REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE from the environment silently
    replace ``session.verify``, and proxy variables could route loopback traffic elsewhere.
    With ``retry_rate_limited``, a 429 is retried after a short backoff, for any method: the gateway
    answers 429 before proxying, so the service never saw the request and a retry cannot duplicate.
    """
    session = requests.Session()
    session.trust_env = False
    session.verify = str(ca_file)
    if retry_rate_limited:
        retry = Retry(
            total=8,
            connect=0,
            read=0,
            status_forcelist=[429],
            allowed_methods=None,
            backoff_factor=0.1,
            raise_on_status=False,
        )
        session.mount("https://", HTTPAdapter(max_retries=retry))
    return session


def tls_context(ca_file: Path, version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    """A verifying client context, optionally pinned to one TLS version."""
    context = ssl.create_default_context(cafile=str(ca_file))
    if version is not None:
        # OpenSSL 3 refuses TLS 1.0/1.1 at its default security level; level 0 lets the client
        # offer them, so the refusal a test sees is the gateway's, not the client's.
        if version < ssl.TLSVersion.TLSv1_2:
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
        with warnings.catch_warnings():
            # Python deprecates TLS 1.0/1.1; the tests use them on purpose, to see them refused.
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = version
            context.maximum_version = version
    return context
