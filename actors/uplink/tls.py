"""mTLS channel credentials for the cloud uplink, re-read from disk when the files change.

Owns the CA, client certificate and key files (a mounted Secret that cert-manager or a cloud
renewal may rewrite at any time). ``TlsFiles.credentials()`` is called before every (re)connect:
it stats the files (mtime, size), re-reads and re-hashes them when anything changed, and builds
new gRPC channel credentials only when the content differs, so rotation needs no restart.

How it fails: every problem is a ``TlsConfigError`` whose message names the file and the cause
(missing file, not PEM, key does not match the certificate, certificate expired or not yet
valid). ``describe_handshake_failure`` turns gRPC's handshake error text into the same kind of
clear sentence (cloud certificate not trusted by our CA, our certificate rejected).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import os
import pathlib
import time
from collections.abc import Callable

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

__all__ = ["TlsConfigError", "TlsFiles", "describe_handshake_failure"]


class TlsConfigError(RuntimeError):
    """The TLS files cannot be used; the message says which file and why."""


@dataclasses.dataclass(frozen=True, slots=True)
class _Loaded:
    stamp: tuple[tuple[int, int], ...]
    digest: str
    credentials: grpc.ChannelCredentials
    not_before: datetime.datetime
    not_after: datetime.datetime
    subject: str


class TlsFiles:
    """CA + client certificate + key files → gRPC channel credentials (cached by content)."""

    def __init__(self, *, ca_file: str, cert_file: str, key_file: str,
                 clock: Callable[[], float] = time.time) -> None:
        self.ca_file, self.cert_file, self.key_file = ca_file, cert_file, key_file
        self._clock = clock
        self._loaded: _Loaded | None = None
        self.reloads = 0

    def credentials(self) -> grpc.ChannelCredentials:
        """Current credentials; re-read when a file changed; raises ``TlsConfigError``."""
        stamp = tuple(self._stat(path) for path in (self.ca_file, self.cert_file, self.key_file))
        if self._loaded is None or self._loaded.stamp != stamp:
            self._loaded = self._load(stamp)
        self._check_validity(self._loaded)
        return self._loaded.credentials

    @property
    def fingerprint(self) -> str:
        """sha256 over the three files as last loaded ("" before the first load)."""
        return self._loaded.digest if self._loaded else ""

    def _stat(self, path: str) -> tuple[int, int]:
        try:
            st = os.stat(path)
        except OSError as exc:
            raise TlsConfigError(f"cannot read {path}: {exc.strerror}") from exc
        return st.st_mtime_ns, st.st_size

    def _load(self, stamp: tuple[tuple[int, int], ...]) -> _Loaded:
        try:
            ca_pem, cert_pem, key_pem = (pathlib.Path(p).read_bytes()
                                         for p in (self.ca_file, self.cert_file, self.key_file))
        except OSError as exc:
            raise TlsConfigError(f"cannot read {exc.filename}: {exc.strerror}") from exc
        digest = hashlib.sha256(ca_pem + b"\0" + cert_pem + b"\0" + key_pem).hexdigest()
        if self._loaded is not None and self._loaded.digest == digest:
            return dataclasses.replace(self._loaded, stamp=stamp)
        try:
            x509.load_pem_x509_certificates(ca_pem)
        except ValueError as exc:
            raise TlsConfigError(f"CA file {self.ca_file} holds no PEM certificate") from exc
        try:
            cert = x509.load_pem_x509_certificate(cert_pem)
        except ValueError as exc:
            raise TlsConfigError(f"client certificate {self.cert_file} is not PEM") from exc
        try:
            key = serialization.load_pem_private_key(key_pem, password=None)
        except (ValueError, TypeError) as exc:
            raise TlsConfigError(f"client key {self.key_file} is not an unencrypted PEM "
                                 "private key") from exc
        pub = serialization.PublicFormat.SubjectPublicKeyInfo
        enc = serialization.Encoding.DER
        if key.public_key().public_bytes(enc, pub) != cert.public_key().public_bytes(enc, pub):
            raise TlsConfigError(f"client key {self.key_file} does not match certificate "
                                 f"{self.cert_file}")
        self.reloads += 1
        creds = grpc.ssl_channel_credentials(root_certificates=ca_pem, private_key=key_pem,
                                             certificate_chain=cert_pem)
        return _Loaded(stamp, digest, creds, cert.not_valid_before_utc, cert.not_valid_after_utc,
                       cert.subject.rfc4514_string())

    def _check_validity(self, loaded: _Loaded) -> None:
        now = datetime.datetime.fromtimestamp(self._clock(), datetime.UTC)
        if now >= loaded.not_after:
            raise TlsConfigError(f"client certificate {self.cert_file} ({loaded.subject}) "
                                 f"expired at {loaded.not_after.isoformat()}")
        if now < loaded.not_before:
            raise TlsConfigError(f"client certificate {self.cert_file} ({loaded.subject}) "
                                 f"is not valid before {loaded.not_before.isoformat()}")


def describe_handshake_failure(details: str, *, ca_file: str, cert_file: str) -> str | None:
    """A clear sentence for a TLS failure in gRPC's error ``details``; None if not TLS."""
    text = details.lower()
    if "certificate_verify_failed" in text or "certificate verify failed" in text:
        return (f"TLS: the cloud's certificate is not trusted by CA file {ca_file} "
                "(wrong CA?)")
    if "certificate expired" in text or "certificate_expired" in text:
        return f"TLS: the cloud rejected client certificate {cert_file} as expired"
    if any(s in text for s in ("unknown ca", "unknown_ca", "bad certificate", "bad_certificate",
                               "certificate required", "certificate_required")):
        return f"TLS: the cloud rejected client certificate {cert_file}"
    if "handshake" in text or "ssl" in text or "tsi_" in text:
        return f"TLS handshake with the cloud failed: {details[:300]}"
    return None
