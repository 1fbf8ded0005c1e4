"""The relay target for the collector: ``discover_relay`` plus the cases the chart adds.

Owns three rules on top of ``relay_discovery.discover_relay``:
- an explicit ``relay_address`` with TLS and no ``tls_ca_file`` takes ``ca.crt`` from
  ``tls_ca_secret`` in the first of ``relay_namespaces`` that has it (the chart grants read on
  that Secret there) instead of failing;
- ``tls_client_secret`` (relay mTLS) adds ``tls.crt``/``tls.key`` from that Secret in the
  relay's namespace (or where the CA was found); a missing or incomplete Secret is a
  ``RelayDiscoveryError``, never a silent connection without the client certificate;
- every failure says what was tried; nothing here falls back to plaintext.
Plain logic: the Kubernetes reads and file reads are injected callables.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from actors.flows.relay_discovery import (
    FileReader,
    RelayDiscoveryError,
    RelayService,
    RelayTarget,
    SecretLookup,
    ServiceLookup,
    TlsMaterial,
    discover_relay,
)
from actors.flows.settings import FlowSettings

__all__ = ["needs_kubernetes_api", "resolve_relay"]


def needs_kubernetes_api(settings: FlowSettings, client_secret: str) -> bool:
    """False only when the address and every TLS file are configured explicitly."""
    if not settings.relay_address:
        return True
    if settings.tls_mode == "plaintext":
        return False
    return not settings.tls_ca_file or bool(client_secret)


def _find_secret(settings: FlowSettings, name: str, get_secret: SecretLookup,
                 namespaces: tuple[str, ...], key: str) -> tuple[str, Mapping[str, bytes]]:
    for namespace in namespaces:
        data = get_secret(namespace, name)
        if data is not None and data.get(key):
            return namespace, data
    raise RelayDiscoveryError(
        f"TLS to hubble relay chosen but Secret {name!r} with {key} was not found (or is not "
        f"readable) in namespaces {list(namespaces)}; refusing to fall back to plaintext")


def resolve_relay(settings: FlowSettings, client_secret: str, get_service: ServiceLookup,
                  get_secret: SecretLookup, read_file: FileReader) -> RelayTarget:
    """Where and how to dial the relay; ``RelayDiscoveryError`` says why it is impossible."""
    found: list[str] = []

    def remembering(namespace: str, name: str) -> RelayService | None:
        service = get_service(namespace, name)
        if service is not None and service.ports:
            found.append(namespace)
        return service

    if settings.relay_address and settings.tls_mode != "plaintext" and not settings.tls_ca_file:
        namespace, data = _find_secret(settings, settings.tls_ca_secret, get_secret,
                                       settings.relay_namespaces, "ca.crt")
        found.append(namespace)
        target = discover_relay(dataclasses.replace(settings, tls_ca_file="<secret>"),
                                remembering, get_secret, lambda _path: bytes(data["ca.crt"]))
        target = dataclasses.replace(
            target, reason=f"{target.reason}; CA from Secret {namespace}/"
                           f"{settings.tls_ca_secret}")
    else:
        target = discover_relay(settings, remembering, get_secret, read_file)
    if not client_secret or target.tls is None:
        return target
    namespaces = (found[0],) if found else settings.relay_namespaces
    namespace, data = _find_secret(settings, client_secret, get_secret, namespaces, "tls.crt")
    if not data.get("tls.key"):
        raise RelayDiscoveryError(f"Secret {namespace}/{client_secret} has tls.crt but no "
                                  "tls.key; refusing to connect without the client certificate")
    tls = TlsMaterial(ca_pem=target.tls.ca_pem, server_name=target.tls.server_name,
                      client_cert_pem=bytes(data["tls.crt"]),
                      client_key_pem=bytes(data["tls.key"]))
    return RelayTarget(address=target.address, tls=tls,
                       reason=f"{target.reason}; client certificate from Secret "
                              f"{namespace}/{client_secret}")
