"""The gateway's TLS certificate and key: self-signed by default, or the user's own (secrets).

The certificate is exported as `tls_ca_certificate` so that clients verify TLS instead of turning
verification off; it therefore names every address a local client may dial.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_tls as tls

from infra.config import Settings
from infra.moves import moved_under

_VALIDITY_HOURS = 24 * 365
_RENEW_BEFORE_HOURS = 24 * 30


@dataclass(frozen=True)
class TlsMaterial:
    certificate_pem: pulumi.Output[str]
    private_key_pem: pulumi.Output[str]


def declare_tls(settings: Settings, parent: pulumi.Resource) -> TlsMaterial:
    if settings.tls_certificate is not None and settings.tls_private_key is not None:
        # A certificate is public: unwrapping it lets the outputs document carry it in the clear.
        return TlsMaterial(
            certificate_pem=pulumi.Output.unsecret(settings.tls_certificate),
            private_key_pem=pulumi.Output.secret(settings.tls_private_key),
        )
    return _self_signed(settings, parent)


def _self_signed(settings: Settings, parent: pulumi.Resource) -> TlsMaterial:
    key = tls.PrivateKey(
        "gateway-tls-key", algorithm="ECDSA", ecdsa_curve="P256", opts=moved_under(parent)
    )
    certificate = tls.SelfSignedCert(
        "gateway-tls-certificate",
        private_key_pem=key.private_key_pem,
        subject=tls.SelfSignedCertSubjectArgs(
            common_name="microstack gateway", organization="microstack"
        ),
        dns_names=["localhost"],
        ip_addresses=certificate_ip_addresses(settings),
        validity_period_hours=_VALIDITY_HOURS,
        early_renewal_hours=_RENEW_BEFORE_HOURS,
        allowed_uses=["digital_signature", "key_encipherment", "server_auth"],
        set_subject_key_id=True,
        opts=moved_under(parent),
    )
    return TlsMaterial(
        certificate_pem=certificate.cert_pem,
        private_key_pem=pulumi.Output.secret(key.private_key_pem),
    )


def certificate_ip_addresses(settings: Settings) -> list[str]:
    addresses = {"127.0.0.1", "::1", settings.client_host}
    if not ipaddress.ip_address(settings.gateway_bind_address).is_unspecified:
        addresses.add(settings.gateway_bind_address)
    return sorted(addresses)
