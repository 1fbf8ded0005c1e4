"""Cilium and Hubble queries from the cloud, mapped onto narrow, checked calls.

Three Hubble requests (``observe`` flows with filters and a number, ``status``, ``nodes``) go to
an injected ``HubbleQueryPort`` (implemented over Hubble Relay elsewhere; tests use a fake) after
``parse_flow_query`` validated every filter (names, labels, verdicts, protocols, ports, IPs,
bounded number; unknown keys refused). Flows are returned as JSON with credential-bearing L7
headers (Authorization, Cookie, ...) masked and the list cut to the output cap with a note.
Cilium resources (CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy, CiliumEndpoint,
CiliumIdentity, CiliumNode) are read through the Kubernetes GET path (``KubeApiReader``), so
they get the same allowlist, redaction and size guard. Failures are answers, never raises.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from actors.commands.k8s_request import KubeApiReader, KubeGetResult

__all__ = ["CILIUM_RESOURCES", "CiliumQueries", "CiliumQueryResult", "FlowQuery",
           "HubbleQueryError", "HubbleQueryPort", "parse_flow_query"]

MAX_FLOWS = 1000
# kind and aliases → (plural under /apis/cilium.io/v2, namespaced)
CILIUM_RESOURCES: dict[str, tuple[str, bool]] = {
    "CiliumNetworkPolicy": ("ciliumnetworkpolicies", True),
    "CiliumClusterwideNetworkPolicy": ("ciliumclusterwidenetworkpolicies", False),
    "CiliumEndpoint": ("ciliumendpoints", True),
    "CiliumIdentity": ("ciliumidentities", False),
    "CiliumNode": ("ciliumnodes", False),
}
_ALIASES = {"cnp": "CiliumNetworkPolicy", "ccnp": "CiliumClusterwideNetworkPolicy",
            "cep": "CiliumEndpoint", "ciliumid": "CiliumIdentity", "cn": "CiliumNode"}
_NAME = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")
_LABEL = re.compile(r"^[A-Za-z0-9_./-]{1,253}(=[A-Za-z0-9_.-]{0,63})?$")
_VERDICTS = {"FORWARDED", "DROPPED", "ERROR", "AUDIT", "REDIRECTED", "TRACED", "TRANSLATED"}
_PROTOCOLS = {"tcp", "udp", "icmp", "icmpv4", "icmpv6", "sctp", "http", "dns", "kafka"}
_SECRET_HEADERS = {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}


class HubbleQueryError(Exception):
    """The Hubble relay could not answer (unreachable, timeout, bad response)."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FlowQuery:
    """A validated, one-shot flow query (never ``follow``)."""

    number: int = 100
    since_s: int = 0                        # 0: no lower time bound
    namespaces: tuple[str, ...] = ()
    pods: tuple[str, ...] = ()              # "namespace/pod" or "pod"
    from_pods: tuple[str, ...] = ()
    to_pods: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()            # "key=value" or "key"
    verdicts: tuple[str, ...] = ()
    protocols: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()
    ips: tuple[str, ...] = ()               # addresses or CIDRs


class HubbleQueryPort(Protocol):
    """One-shot Hubble Relay calls; each raises ``HubbleQueryError`` on failure."""

    def observe(self, query: FlowQuery, *, timeout_s: float) -> Sequence[Mapping[str, Any]]: ...

    def server_status(self, *, timeout_s: float) -> Mapping[str, Any]: ...

    def nodes(self, *, timeout_s: float) -> Sequence[Mapping[str, Any]]: ...


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CiliumQueryResult:
    """One Hubble answer as JSON, or the reason it failed."""

    success: bool
    body: str = ""           # JSON
    error_message: str = ""
    truncated: bool = False
    note: str = ""


def parse_flow_query(raw: Mapping[str, Any]) -> FlowQuery | str:
    """A ``FlowQuery`` from the cloud's plain filters, or the reason it is refused."""
    fields = {f.name for f in dataclasses.fields(FlowQuery)}
    unknown = sorted(set(raw) - fields)
    if unknown:
        return f"unknown flow filter(s): {', '.join(unknown)}"
    values: dict[str, Any] = {}
    for key in ("number", "since_s"):
        if key in raw:
            value = raw[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                return f"{key} must be a non-negative integer"
            values[key] = value
    if not 1 <= values.get("number", 100) <= MAX_FLOWS:
        return f"number must be between 1 and {MAX_FLOWS}"
    checks = {"namespaces": _is_name, "pods": _is_pod, "from_pods": _is_pod, "to_pods": _is_pod,
              "labels": lambda v: bool(_LABEL.match(v)), "verdicts": _VERDICTS.__contains__,
              "protocols": _PROTOCOLS.__contains__, "ips": _is_ip}
    for key, valid in checks.items():
        items = raw.get(key, ())
        if isinstance(items, str) or not isinstance(items, (list, tuple)) or len(items) > 32:
            return f"{key} must be a list of at most 32 values"
        bad = [item for item in items if not isinstance(item, str) or not valid(item)]
        if bad:
            return f"invalid {key} value: {str(bad[0])[:100]!r}"
        values[key] = tuple(items)
    ports = raw.get("ports", ())
    if not isinstance(ports, (list, tuple)) or len(ports) > 32 or not all(
            isinstance(p, int) and not isinstance(p, bool) and 0 < p < 65536 for p in ports):
        return "ports must be a list of at most 32 port numbers"
    values["ports"] = tuple(ports)
    return FlowQuery(**values)


def _is_name(value: str) -> bool:
    return bool(_NAME.match(value))


def _is_pod(value: str) -> bool:
    return all(_is_name(part) for part in value.split("/")) and value.count("/") <= 1


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


class CiliumQueries:
    """Validated Hubble calls and Cilium resource reads, answered as JSON."""

    def __init__(self, hubble: HubbleQueryPort | None, reader: KubeApiReader, *,
                 output_cap_bytes: int = 1 << 20) -> None:
        self._hubble = hubble
        self._reader = reader
        self._cap = output_cap_bytes

    def observe(self, *, filters: Mapping[str, Any], timeout_s: float) -> CiliumQueryResult:
        query = parse_flow_query(filters)
        if isinstance(query, str):
            return CiliumQueryResult(success=False, error_message=query)
        return self._call(lambda port: list(port.observe(query, timeout_s=timeout_s)))

    def status(self, *, timeout_s: float) -> CiliumQueryResult:
        return self._call(lambda port: dict(port.server_status(timeout_s=timeout_s)))

    def nodes(self, *, timeout_s: float) -> CiliumQueryResult:
        return self._call(lambda port: list(port.nodes(timeout_s=timeout_s)))

    def resources(self, *, request_id: str, kind: str, namespace: str = "", name: str = "",
                  label_selector: str = "", timeout_s: float = 30.0) -> KubeGetResult:
        canonical = _ALIASES.get(kind, kind)
        if canonical not in CILIUM_RESOURCES:
            return KubeGetResult(api_path=kind, success=False, status_code=400,
                                 error_message=f"unknown Cilium kind {kind!r} (known: "
                                               f"{', '.join(CILIUM_RESOURCES)})")
        plural, namespaced = CILIUM_RESOURCES[canonical]
        scope = f"/namespaces/{namespace}" if namespaced and namespace else ""
        path = f"/apis/cilium.io/v2{scope}/{plural}" + (f"/{name}" if name else "")
        if label_selector:
            path += "?" + urllib.parse.urlencode({"labelSelector": label_selector},
                                                 quote_via=urllib.parse.quote)
        for part in (namespace, name):
            if part and not _is_name(part):
                return KubeGetResult(api_path=path, success=False, status_code=400,
                                     error_message=f"invalid name {part!r}")
        return self._reader.get(request_id=request_id, api_path=path, timeout_s=timeout_s)

    def _call(self, fetch: Any) -> CiliumQueryResult:
        if self._hubble is None:
            return CiliumQueryResult(success=False, error_message="Hubble is not available "
                                                                  "in this cluster")
        try:
            data = fetch(self._hubble)
        except HubbleQueryError as exc:
            return CiliumQueryResult(success=False, error_message=f"Hubble: {exc}"[:1000])
        _mask_headers(data)
        body = json.dumps(data, separators=(",", ":"), default=str)
        if len(body.encode("utf-8")) <= self._cap:
            return CiliumQueryResult(success=True, body=body)
        if not isinstance(data, list):
            return CiliumQueryResult(success=False, truncated=True,
                                     error_message="the answer is larger than the output cap")
        kept: list[Any] = []
        size = 2
        for item in data:
            size += len(json.dumps(item, separators=(",", ":"), default=str)) + 1
            if size > self._cap:
                break
            kept.append(item)
        return CiliumQueryResult(success=True, truncated=True,
                                 body=json.dumps(kept, separators=(",", ":"), default=str),
                                 note=f"kept {len(kept)} of {len(data)} entries to fit "
                                      f"{self._cap} bytes")


def _mask_headers(value: Any) -> None:
    if isinstance(value, list):
        for item in value:
            _mask_headers(item)
    elif isinstance(value, dict):
        for key, child in value.items():
            if key == "headers" and isinstance(child, list):
                for header in child:
                    if isinstance(header, dict) and \
                            str(header.get("key", "")).lower() in _SECRET_HEADERS:
                        header["value"] = "<redacted>"
            else:
                _mask_headers(child)
