"""Test PKI for the simulated Kestrel Cloud, minted with ``cryptography`` (ECDSA P-256).

``mint_pki(directory)`` writes a CA, a server certificate for localhost/127.0.0.1, a valid client
certificate, an EXPIRED client certificate (same CA) and a second, unrelated "wrong" CA, and
returns their paths. Everything is throwaway test material: keys are written unencrypted with
mode 0600. Fails only on I/O errors (raised as OSError).
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import os
import pathlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["PkiPaths", "mint_pki"]


@dataclasses.dataclass(frozen=True, slots=True)
class PkiPaths:
    """Where ``mint_pki`` wrote each file."""

    ca_cert: pathlib.Path
    ca_key: pathlib.Path
    server_cert: pathlib.Path
    server_key: pathlib.Path
    client_cert: pathlib.Path
    client_key: pathlib.Path
    expired_client_cert: pathlib.Path
    expired_client_key: pathlib.Path
    wrong_ca_cert: pathlib.Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Kestrel test"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(path: pathlib.Path, data: bytes, private: bool = False) -> pathlib.Path:
    path.write_bytes(data)
    if private:
        os.chmod(path, 0o600)
    return path


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _ca(common_name: str, now: datetime.datetime) -> tuple[x509.Certificate,
                                                           ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name(common_name))
            .issuer_name(_name(common_name)).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                         crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return cert, key


def _leaf(common_name: str, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, *,
          server: bool, not_before: datetime.datetime, not_after: datetime.datetime,
          ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (x509.CertificateBuilder().subject_name(_name(common_name))
               .issuer_name(ca.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(not_before).not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False).add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    else:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def mint_pki(directory: str | os.PathLike[str], *, cluster_id: str = "cluster-test") -> PkiPaths:
    """Write a complete test PKI into ``directory`` and return the file paths."""
    out = pathlib.Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca, ca_key = _ca("Kestrel Test Cloud CA", now)
    wrong_ca, _ = _ca("Some Other CA", now)
    year = datetime.timedelta(days=365)
    server, server_key = _leaf("localhost", ca, ca_key, server=True,
                               not_before=now - datetime.timedelta(hours=1), not_after=now + year)
    client, client_key = _leaf(f"operator-{cluster_id}", ca, ca_key, server=False,
                               not_before=now - datetime.timedelta(hours=1), not_after=now + year)
    expired, expired_key = _leaf(f"operator-{cluster_id}-expired", ca, ca_key, server=False,
                                 not_before=now - datetime.timedelta(days=30),
                                 not_after=now - datetime.timedelta(days=1))
    pem = serialization.Encoding.PEM
    return PkiPaths(
        ca_cert=_write(out / "ca.crt", ca.public_bytes(pem)),
        ca_key=_write(out / "ca.key", _key_pem(ca_key), private=True),
        server_cert=_write(out / "server.crt", server.public_bytes(pem)),
        server_key=_write(out / "server.key", _key_pem(server_key), private=True),
        client_cert=_write(out / "client.crt", client.public_bytes(pem)),
        client_key=_write(out / "client.key", _key_pem(client_key), private=True),
        expired_client_cert=_write(out / "client-expired.crt", expired.public_bytes(pem)),
        expired_client_key=_write(out / "client-expired.key", _key_pem(expired_key),
                                  private=True),
        wrong_ca_cert=_write(out / "wrong-ca.crt", wrong_ca.public_bytes(pem)),
    )
