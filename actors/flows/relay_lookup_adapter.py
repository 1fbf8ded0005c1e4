"""Kubernetes reads for relay discovery: the hubble-relay Service and the relay CA Secret.

Owns the two GETs ``relay_discovery.discover_relay`` needs, over the project's
``KubeHttpAdapter`` (anything with ``list_page(path, limit=...) -> bytes`` raising errors that
carry an HTTP ``code``). ``service_lookup`` returns a ``RelayService`` (its ports in declared
order) or None when the Service does not exist (404) or is forbidden (403, e.g. no RBAC for that
namespace); ``secret_lookup`` returns the base64-decoded data of a Secret or None likewise.
Other API errors propagate: discovery should be retried later, not concluded "no relay".
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from actors.flows.relay_discovery import RelayService

__all__ = ["secret_lookup", "service_lookup"]

logger = logging.getLogger(__name__)
_ABSENT = (403, 404)


class _Getter(Protocol):
    def list_page(self, path: str, *, limit: int, continue_token: str = "",
                  field_selector: str = "") -> bytes: ...


def _get(api: _Getter, path: str) -> dict[str, Any] | None:
    try:
        body = api.list_page(path, limit=1)
    except Exception as exc:
        if getattr(exc, "code", None) in _ABSENT:
            logger.info("relay discovery: %s not readable (%s)", path,
                        getattr(exc, "code", "?"))
            return None
        raise
    try:
        parsed = json.loads(body)
    except ValueError:
        logger.warning("relay discovery: %s returned a non-JSON body", path)
        return None
    return parsed if isinstance(parsed, dict) else None


def service_lookup(api: _Getter) -> Callable[[str, str], RelayService | None]:
    def lookup(namespace: str, name: str) -> RelayService | None:
        found = _get(api, f"/api/v1/namespaces/{namespace}/services/{name}")
        if found is None:
            return None
        ports = tuple(int(p["port"]) for p in (found.get("spec") or {}).get("ports") or ()
                      if isinstance(p, dict) and isinstance(p.get("port"), int))
        return RelayService(namespace=namespace, name=name, ports=ports)
    return lookup


def secret_lookup(api: _Getter) -> Callable[[str, str], Mapping[str, bytes] | None]:
    def lookup(namespace: str, name: str) -> Mapping[str, bytes] | None:
        found = _get(api, f"/api/v1/namespaces/{namespace}/secrets/{name}")
        if found is None:
            return None
        data: dict[str, bytes] = {}
        for key, value in (found.get("data") or {}).items():
            try:
                data[key] = base64.b64decode(value, validate=True)
            except (binascii.Error, TypeError, ValueError):
                logger.warning("relay discovery: Secret %s/%s key %s is not base64",
                               namespace, name, key)
        return data
    return lookup
