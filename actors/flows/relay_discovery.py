"""Find Hubble Relay and decide, explicitly, how to talk TLS to it.

Owns the choice of target: an explicit ``relay_address`` wins; else Service ``hubble-relay`` in
``kube-system``, then in ``gke-managed-dpv2-observability`` (GKE Dataplane V2), dialled at its
cluster DNS name and first port. TLS: ``tls_mode=tls`` always, ``plaintext`` never, ``auto``
when the Service port is 443 (the chart's port when relay server TLS is on). When TLS is chosen
the CA comes from ``tls_ca_file`` or ``ca.crt`` of Secret ``hubble-relay-server-certs`` in the
relay's namespace; with no CA discovery FAILS with ``RelayDiscoveryError`` — it never falls back
to plaintext (the anchor did, silently). Plain logic: Kubernetes reads and file reads are
injected callables, so tests need no cluster.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping

from actors.flows.settings import FlowSettings

__all__ = ["RelayDiscoveryError", "RelayService", "RelayTarget", "TlsMaterial", "discover_relay"]

logger = logging.getLogger(__name__)


class RelayDiscoveryError(RuntimeError):
    """No usable relay target: the message says what was tried and what is missing."""


@dataclasses.dataclass(frozen=True, slots=True)
class RelayService:
    """The parts of a Kubernetes Service discovery needs."""

    namespace: str
    name: str
    ports: tuple[int, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class TlsMaterial:
    """PEM bytes for a TLS channel; ``client_*`` empty when no client certificate is used."""

    ca_pem: bytes
    server_name: str
    client_cert_pem: bytes = b""
    client_key_pem: bytes = b""


@dataclasses.dataclass(frozen=True, slots=True)
class RelayTarget:
    """Where to dial and how; ``reason`` says why (logged and shown on the status endpoint)."""

    address: str
    tls: TlsMaterial | None
    reason: str


ServiceLookup = Callable[[str, str], RelayService | None]         # (namespace, name)
SecretLookup = Callable[[str, str], Mapping[str, bytes] | None]   # decoded Secret data
FileReader = Callable[[str], bytes]


def _read_file(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def discover_relay(settings: FlowSettings, get_service: ServiceLookup,
                   get_secret: SecretLookup, read_file: FileReader = _read_file) -> RelayTarget:
    """Resolve the relay target; raises ``RelayDiscoveryError`` with a reason when impossible."""
    namespace = ""
    if settings.relay_address:
        address, port = settings.relay_address, int(settings.relay_address.rpartition(":")[2])
        origin = "configured address"
    else:
        service = None
        for candidate in settings.relay_namespaces:
            service = get_service(candidate, settings.relay_service)
            if service is not None and service.ports:
                break
            service = None
        if service is None:
            raise RelayDiscoveryError(
                f"Service {settings.relay_service!r} with a port not found in namespaces "
                f"{list(settings.relay_namespaces)}; set flows.relay_address or disable flows")
        namespace, port = service.namespace, service.ports[0]
        address = f"{service.name}.{service.namespace}.svc:{port}"
        origin = f"Service {service.namespace}/{service.name}"
    use_tls = settings.tls_mode == "tls" or (settings.tls_mode == "auto" and port == 443)
    if not use_tls:
        why = ("tls_mode=plaintext" if settings.tls_mode == "plaintext"
               else f"tls_mode=auto and port {port} is not 443 (relay server TLS off)")
        logger.info("hubble relay %s via %s: plaintext because %s", address, origin, why)
        return RelayTarget(address=address, tls=None, reason=f"{origin}; plaintext: {why}")
    tls = _tls_material(settings, namespace, get_secret, read_file)
    logger.info("hubble relay %s via %s: TLS, server name %s", address, origin, tls.server_name)
    return RelayTarget(address=address, tls=tls, reason=f"{origin}; TLS")


def _tls_material(settings: FlowSettings, namespace: str, get_secret: SecretLookup,
                  read_file: FileReader) -> TlsMaterial:
    try:
        if settings.tls_ca_file:
            ca = read_file(settings.tls_ca_file)
        else:
            ca = _ca_from_secret(settings, namespace, get_secret)
        cert = read_file(settings.tls_client_cert_file) if settings.tls_client_cert_file else b""
        key = read_file(settings.tls_client_key_file) if settings.tls_client_key_file else b""
    except OSError as exc:
        raise RelayDiscoveryError(f"TLS to hubble relay chosen but a file is unreadable: {exc}; "
                                  "refusing to fall back to plaintext") from exc
    if b"-----BEGIN CERTIFICATE-----" not in ca:
        raise RelayDiscoveryError("TLS to hubble relay chosen but the CA is not a PEM "
                                  "certificate; refusing to fall back to plaintext")
    return TlsMaterial(ca_pem=ca, server_name=settings.tls_server_name,
                       client_cert_pem=cert, client_key_pem=key)


def _ca_from_secret(settings: FlowSettings, namespace: str, get_secret: SecretLookup) -> bytes:
    if not namespace:
        raise RelayDiscoveryError("TLS with a configured relay_address needs flows.tls_ca_file; "
                                  "refusing to fall back to plaintext")
    data = get_secret(namespace, settings.tls_ca_secret)
    if data is None or not data.get("ca.crt"):
        raise RelayDiscoveryError(
            f"TLS to hubble relay chosen but Secret {namespace}/{settings.tls_ca_secret} has no "
            "ca.crt (or is not readable); set flows.tls_ca_file or tls_mode; refusing to fall "
            "back to plaintext")
    return bytes(data["ca.crt"])
