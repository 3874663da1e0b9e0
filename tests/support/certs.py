"""Test certificates, made on the spot: a CA, a server certificate and a client certificate.

The server certificate is valid for ``127.0.0.1``, ``::1`` and ``localhost``, so
servers bound to 127.0.0.1 can be verified without a name override. Keys are P-256
(fast to make); everything is written as PEM files, as a deployment would mount them.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from avatar_core.config import ClientTls

_VALIDITY = datetime.timedelta(days=2)


@dataclass(frozen=True, slots=True)
class Certificates:
    """PEM files of one test PKI.

    Attributes:
        ca: The CA certificate (what clients and mTLS servers trust).
        server_cert: Server certificate for 127.0.0.1 / localhost, signed by the CA.
        server_key: Its private key.
        client_cert: Client certificate, signed by the CA.
        client_key: Its private key.
    """

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def server_environment(self, service: str, mutual: bool = False) -> dict[str, str]:
        """``AVATAR_<SERVICE>_TLS_*`` variables serving TLS (mutual TLS when asked)."""
        prefix = f"AVATAR_{service.upper()}_"
        environment = {
            f"{prefix}TLS_CERT": str(self.server_cert),
            f"{prefix}TLS_KEY": str(self.server_key),
        }
        if mutual:
            environment[f"{prefix}TLS_CLIENT_CA"] = str(self.ca)
        return environment

    def client_tls(self, with_certificate: bool = True) -> ClientTls:
        """Client settings trusting this CA, presenting the client certificate when asked."""
        if not with_certificate:
            return ClientTls(ca_file=self.ca)
        return ClientTls(ca_file=self.ca, cert_file=self.client_cert, key_file=self.client_key)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject: str, issuer: str, public_key) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
    )


def _write(path: Path, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Path:
    path.with_suffix(".key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.with_suffix(".crt").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path.with_suffix(".crt")


def _leaf(
    ca_name: str, ca_key, common_name: str, usage, alternative_names: list
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        _builder(common_name, ca_name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if alternative_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(alternative_names), critical=False
        )
    return builder.sign(ca_key, hashes.SHA256()), key


def make_certificates(directory: Path, ca_name: str = "avatar test CA") -> Certificates:
    """Makes a CA and a server and client certificate signed by it, as PEM files.

    Args:
        directory: Where the files go (created when missing).
        ca_name: Common name of the CA; two calls with different names make two
            unrelated PKIs (for "certificate from another CA" tests).
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        _builder(ca_name, ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    server, server_key = _leaf(
        ca_name,
        ca_key,
        "localhost",
        ExtendedKeyUsageOID.SERVER_AUTH,
        [
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ],
    )
    client, client_key = _leaf(
        ca_name, ca_key, "avatar client", ExtendedKeyUsageOID.CLIENT_AUTH, []
    )
    return Certificates(
        ca=_write(directory / "ca", ca, ca_key),
        server_cert=_write(directory / "server", server, server_key),
        server_key=directory / "server.key",
        client_cert=_write(directory / "client", client, client_key),
        client_key=directory / "client.key",
    )
