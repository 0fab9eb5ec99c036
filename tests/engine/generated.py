"""pulumi-random and pulumi-tls resources, generated for real (secrets, cryptography).

They have no Docker object: the values they produce flow into container uploads, exactly as the
providers' would. Each function returns the provider's output properties (camelCase).
"""

from __future__ import annotations

import datetime
import ipaddress
import secrets
import string
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.engine.inputs import ResourceInputs, UnsupportedInputError

# pulumi-random's default special characters.
DEFAULT_SPECIAL = "!@#$%&*()-_=+[]{}<>:?"


def random_password(inputs: ResourceInputs) -> dict[str, Any]:
    length = int(inputs.require("length"))
    classes = {
        "lower": (string.ascii_lowercase, inputs.take("lower", True), inputs.take("minLower", 0)),
        "upper": (string.ascii_uppercase, inputs.take("upper", True), inputs.take("minUpper", 0)),
        "numeric": (string.digits, inputs.take("numeric", True), inputs.take("minNumeric", 0)),
        "special": (
            inputs.take("overrideSpecial") or DEFAULT_SPECIAL,
            inputs.take("special", True),
            inputs.take("minSpecial", 0),
        ),
    }
    inputs.take("keepers")  # only decides when the real provider replaces the value
    inputs.finish()
    enabled = [(alphabet, int(minimum)) for alphabet, on, minimum in classes.values() if on]
    if sum(minimum for _, minimum in enabled) > length:
        raise UnsupportedInputError("RandomPassword: the minimums exceed the length")
    characters = [secrets.choice(alphabet) for alphabet, minimum in enabled for _ in range(minimum)]
    pool = "".join(alphabet for alphabet, _ in enabled)
    characters += [secrets.choice(pool) for _ in range(length - len(characters))]
    secrets.SystemRandom().shuffle(characters)
    return {"result": "".join(characters)}


PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
CURVES = {"P224": ec.SECP224R1, "P256": ec.SECP256R1, "P384": ec.SECP384R1, "P521": ec.SECP521R1}


def private_key(inputs: ResourceInputs) -> dict[str, Any]:
    algorithm = inputs.require("algorithm")
    curve = inputs.take("ecdsaCurve", "P224")
    bits = int(inputs.take("rsaBits", 2048))
    inputs.finish()
    key: PrivateKey
    if algorithm == "ECDSA":
        key = ec.generate_private_key(CURVES[curve]())
    elif algorithm == "RSA":
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    elif algorithm == "ED25519":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        raise UnsupportedInputError(f"PrivateKey: algorithm {algorithm!r}")
    return key_outputs(key)


def key_outputs(key: PrivateKey) -> dict[str, Any]:
    # Like the tls provider: PKCS#1 / SEC1 ("traditional") PEM, plus PKCS#8 and the public halves.
    traditional = (
        serialization.PrivateFormat.PKCS8
        if isinstance(key, ed25519.Ed25519PrivateKey)
        else serialization.PrivateFormat.TraditionalOpenSSL
    )
    public = key.public_key()
    return {
        "privateKeyPem": pem(key, traditional),
        "privateKeyPemPkcs8": pem(key, serialization.PrivateFormat.PKCS8),
        "publicKeyPem": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode(),
        "publicKeyOpenssh": public.public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        ).decode()
        + "\n",
    }


def pem(key: PrivateKey, private_format: serialization.PrivateFormat) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, private_format, serialization.NoEncryption()
    ).decode()


SUBJECT_FIELDS = {
    "commonName": NameOID.COMMON_NAME,
    "organization": NameOID.ORGANIZATION_NAME,
    "organizationalUnit": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "country": NameOID.COUNTRY_NAME,
    "province": NameOID.STATE_OR_PROVINCE_NAME,
    "locality": NameOID.LOCALITY_NAME,
    "postalCode": NameOID.POSTAL_CODE,
    "serialNumber": NameOID.SERIAL_NUMBER,
}
KEY_USAGES = {
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "cert_signing",
    "crl_signing",
    "encipher_only",
    "decipher_only",
}
EXTENDED_USAGES = {
    "server_auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "client_auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "code_signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email_protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocsp_signing": ExtendedKeyUsageOID.OCSP_SIGNING,
}


def self_signed_cert(inputs: ResourceInputs) -> dict[str, Any]:
    key = serialization.load_pem_private_key(inputs.require("privateKeyPem").encode(), None)
    subject = subject_name(inputs.block("subject"))
    hours = int(inputs.require("validityPeriodHours"))
    inputs.take("earlyRenewalHours")  # only decides when the real provider renews
    usages = list(inputs.require("allowedUses"))
    is_ca = bool(inputs.take("isCaCertificate", False))
    now = datetime.datetime.now(datetime.UTC)
    public = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(hours=hours))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(key_usage(usages), critical=True)
    )
    builder = with_optional_extensions(builder, inputs, usages, public)
    inputs.finish()
    digest = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    certificate = builder.sign(key, digest)  # type: ignore[arg-type]
    return {
        "certPem": certificate.public_bytes(serialization.Encoding.PEM).decode(),
        "validityStartTime": now.isoformat(),
        "validityEndTime": certificate.not_valid_after_utc.isoformat(),
        "readyForRenewal": False,
    }


def with_optional_extensions(
    builder: x509.CertificateBuilder, inputs: ResourceInputs, usages: list[str], public: Any
) -> x509.CertificateBuilder:
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in inputs.take("dnsNames") or []]
    names += [
        x509.IPAddress(ipaddress.ip_address(address))
        for address in inputs.take("ipAddresses") or []
    ]
    names += [x509.UniformResourceIdentifier(uri) for uri in inputs.take("uris") or []]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    extended = [EXTENDED_USAGES[usage] for usage in usages if usage in EXTENDED_USAGES]
    if extended:
        builder = builder.add_extension(x509.ExtendedKeyUsage(extended), critical=False)
    if inputs.take("setSubjectKeyId", False):
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(public), critical=False
        )
    return builder


def subject_name(subject: ResourceInputs | None) -> x509.Name:
    if subject is None:
        return x509.Name([])
    attributes = [
        x509.NameAttribute(oid, str(value))
        for field, oid in SUBJECT_FIELDS.items()
        if (value := subject.take(field)) is not None
    ]
    subject.finish()
    return x509.Name(attributes)


def key_usage(usages: list[str]) -> x509.KeyUsage:
    unknown = set(usages) - KEY_USAGES - set(EXTENDED_USAGES)
    if unknown:
        raise UnsupportedInputError(f"SelfSignedCert: allowedUses {sorted(unknown)}")
    flags = {usage: usage in usages for usage in KEY_USAGES}
    return x509.KeyUsage(
        digital_signature=flags["digital_signature"],
        content_commitment=flags["content_commitment"],
        key_encipherment=flags["key_encipherment"],
        data_encipherment=flags["data_encipherment"],
        key_agreement=flags["key_agreement"],
        key_cert_sign=flags["cert_signing"],
        crl_sign=flags["crl_signing"],
        encipher_only=flags["encipher_only"],
        decipher_only=flags["decipher_only"],
    )
