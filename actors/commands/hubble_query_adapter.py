"""One-shot Hubble Relay queries for the command runner: ``HubbleQueryPort`` over gRPC, TLS first.

``HubbleRelayQueries`` implements the three calls ``cilium_request`` needs: ``observe`` (GetFlows
without ``follow``: the last ``number`` flows, filtered), ``status`` (ServerStatus) and ``nodes``
(GetNodes), each bounded by the caller's timeout; answers are plain dicts (protobuf JSON mapping,
proto field names). Where and how it dials comes from a resolver run on the first call (on a
call-pool thread, never in the actor): ``relay_queries`` builds it from the runner's settings
with the flow collector's own rules (``relay_resolution.resolve_relay``): the explicit
``hubble_relay_address``, else Service hubble-relay in kube-system, then GKE's namespace, read
through the runner's Kubernetes API settings; TLS with the CA from ``hubble_tls_ca_file`` or the
relay's Secret, optional client certificate. Nothing falls back to plaintext: plaintext only with
``hubble_tls_enabled: false``. A failed discovery is an error answer ("relay discovery failed")
that is retried after ``retry_discovery_s``; a TLS failure (bad CA, wrong server name, relay not
speaking TLS) is an error answer starting ``tls:`` naming the address and server name. After
UNAVAILABLE the channel is dropped and the next call resolves again (a moved Service, a
rotated CA). ``observe_request`` maps a validated ``FlowQuery`` onto relay filters the way the
hubble CLI does: "either side" filters (namespaces, pods, labels, ips, ports) become one
source-side and one destination-side ``FlowFilter``; combining them with ``from_pods``/``to_pods``
is refused as ambiguous. Every gRPC failure raises ``HubbleQueryError`` with the code and details.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import grpc
from google.protobuf import json_format

from actors.commands.cilium_request import FlowQuery, HubbleQueryError
from actors.commands.k8s_client_adapter import HttpKubeTransport
from actors.commands.k8s_request import KubeTransport
from actors.commands.runner_settings import RunnerSettings, kube_endpoint
from actors.flows.relay_discovery import (
    RelayDiscoveryError,
    RelayService,
    RelayTarget,
    SecretLookup,
    ServiceLookup,
)
from actors.flows.relay_lookup_adapter import secret_lookup, service_lookup
from actors.flows.relay_resolution import needs_kubernetes_api, resolve_relay
from actors.flows.settings import FlowSettings
from messages.wire.flow import flow_pb2
from messages.wire.observer import observer_pb2, observer_pb2_grpc

__all__ = ["HubbleRelayQueries", "KubeGetError", "RelayResolver", "observe_request",
           "open_relay_channel", "relay_queries", "relay_resolver"]

logger = logging.getLogger(__name__)

RelayResolver = Callable[[float], RelayTarget]     # (seconds allowed) -> target
_DISCOVERY_GET_S = 5.0          # cap of one discovery GET
_MAX_DISCOVERY_BODY = 1 << 20
_TLS_WORDS = ("tls", "ssl", "handshake", "certificate", "hostname verification", "tsi_")
# the flow collector's key names in RelayDiscoveryError texts → this component's
_KEY_WORDS = (("flows.relay_address or disable flows", "hubble_relay_address"),
              ("flows.tls_ca_file", "hubble_tls_ca_file"), ("tls_mode", "hubble_tls_enabled"))


def observe_request(query: FlowQuery, *, now: float) -> observer_pb2.GetFlowsRequest:
    """The GetFlows request for ``query`` (``now``: Unix seconds, for ``since_s``)."""
    either = {"pod": [f"{ns}/" for ns in query.namespaces] + list(query.pods),
              "label": list(query.labels), "ip": list(query.ips),
              "port": [str(port) for port in query.ports]}
    if any(either.values()) and (query.from_pods or query.to_pods):
        raise HubbleQueryError("combine pods/namespaces/labels/ips/ports (either direction) "
                               "or from_pods/to_pods, not both")
    common: dict[str, list[Any]] = {}
    if query.verdicts:
        common["verdict"] = [flow_pb2.Verdict.Value(v) for v in query.verdicts]
    if query.protocols:
        common["protocol"] = list(query.protocols)
    filters: list[flow_pb2.FlowFilter] = []
    if any(either.values()):
        for side in ("source", "destination"):
            fields = {f"{side}_{key}": values for key, values in either.items() if values}
            filters.append(_flow_filter({**fields, **common}))
    elif query.from_pods or query.to_pods or common:
        fields = dict(common)
        if query.from_pods:
            fields["source_pod"] = list(query.from_pods)
        if query.to_pods:
            fields["destination_pod"] = list(query.to_pods)
        filters.append(_flow_filter(fields))
    request = observer_pb2.GetFlowsRequest(number=query.number, follow=False, whitelist=filters)
    if query.since_s:
        request.since.FromNanoseconds(int((now - query.since_s) * 1e9))
    return request


class KubeGetError(Exception):
    """A discovery GET answered with an HTTP error (``code`` as ``relay_lookup_adapter`` reads)."""

    def __init__(self, code: int, path: str) -> None:
        super().__init__(f"GET {path}: HTTP {code}")
        self.code = code


class _TransportGetter:
    """``relay_lookup_adapter``'s GET over the runner's ``KubeTransport`` (bounded)."""

    def __init__(self, transport: KubeTransport, timeout_s: float) -> None:
        self._transport = transport
        self._timeout_s = timeout_s

    def list_page(self, path: str, *, limit: int, continue_token: str = "",
                  field_selector: str = "") -> bytes:
        response = self._transport.request("GET", path, timeout_s=self._timeout_s,
                                           max_bytes=_MAX_DISCOVERY_BODY)
        if response.status >= 400:
            raise KubeGetError(response.status, path)
        if response.truncated:
            raise RelayDiscoveryError(f"GET {path}: answer larger than {_MAX_DISCOVERY_BODY}")
        return response.body


def _read_file(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def relay_resolver(relay: FlowSettings, client_secret: str, transport: KubeTransport | None, *,
                   api_problem: str = "",
                   read_file: Callable[[str], bytes] = _read_file) -> RelayResolver:
    """The flow collector's resolution over ``transport``; ``RelayDiscoveryError`` says why not."""

    def no_service(namespace: str, name: str) -> RelayService | None:
        return None

    def no_secret(namespace: str, name: str) -> Mapping[str, bytes] | None:
        return None

    def resolve(timeout_s: float) -> RelayTarget:
        get_service: ServiceLookup = no_service
        get_secret: SecretLookup = no_secret
        if needs_kubernetes_api(relay, client_secret):
            if transport is None:
                raise RelayDiscoveryError(
                    "the relay Service or its TLS Secrets must be read from the Kubernetes API, "
                    f"which is not configured ({api_problem or 'no API server'}); set "
                    "hubble_relay_address and hubble_tls_ca_file")
            getter = _TransportGetter(transport, max(0.1, min(timeout_s, _DISCOVERY_GET_S)))
            get_service, get_secret = service_lookup(getter), secret_lookup(getter)
        return resolve_relay(relay, client_secret, get_service, get_secret, read_file)
    return resolve


def relay_queries(settings: RunnerSettings, environ: Mapping[str, str], *,
                  transport: KubeTransport | None = None) -> HubbleRelayQueries | None:
    """The runner's relay port, or None with no address and no API to discover one through
    (the runner then answers "hubble not configured"). ``transport`` defaults to an
    ``HttpKubeTransport`` on the runner's own API settings (``api_url`` or in-cluster)."""
    problem = ""
    if transport is None:
        try:
            transport = HttpKubeTransport(kube_endpoint(settings, environ))
        except (ValueError, OSError) as exc:     # not in a cluster, unreadable CA file
            problem = str(exc)
    if not settings.hubble_relay.relay_address and transport is None:
        return None
    return HubbleRelayQueries(relay_resolver(settings.hubble_relay,
                                             settings.hubble_tls_client_secret, transport,
                                             api_problem=problem))


def open_relay_channel(target: RelayTarget) -> grpc.Channel:
    """A channel exactly as the target says: TLS with its CA and server name, else plaintext."""
    tls = target.tls
    if tls is None:
        return grpc.insecure_channel(target.address)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=tls.ca_pem, private_key=tls.client_key_pem or None,
        certificate_chain=tls.client_cert_pem or None)
    return grpc.secure_channel(target.address, credentials,
                               options=[("grpc.ssl_target_name_override", tls.server_name)])


class HubbleRelayQueries:
    """gRPC to one resolved Hubble Relay; safe to call from several worker threads.

    ``source`` is a resolver, or a bare address meaning plaintext configured explicitly.
    """

    def __init__(self, source: str | RelayResolver, *,
                 wall_clock: Callable[[], float] = time.time,
                 clock: Callable[[], float] = time.monotonic,
                 channel_factory: Callable[[RelayTarget], grpc.Channel] = open_relay_channel,
                 retry_discovery_s: float = 5.0) -> None:
        if isinstance(source, str):
            fixed = RelayTarget(address=source, tls=None, reason="configured plaintext address")
            self._resolve: RelayResolver = lambda _timeout_s: fixed
        else:
            self._resolve = source
        self._wall = wall_clock
        self._clock = clock
        self._channel_factory = channel_factory
        self._retry_s = retry_discovery_s
        self._lock = threading.Lock()
        self._channel: grpc.Channel | None = None
        self._stub: Any = None
        self.target: RelayTarget | None = None
        self.last_discovery_error = ""
        self._failed_at = -math.inf
        self.discoveries = 0
        self.discovery_failures = 0
        self.tls_failures = 0

    def observe(self, query: FlowQuery, *, timeout_s: float) -> Sequence[Mapping[str, Any]]:
        request = observe_request(query, now=self._wall())
        stub, target = self._connection(timeout_s)
        flows: list[Mapping[str, Any]] = []
        try:
            stream = stub.GetFlows(request, timeout=timeout_s)
            try:
                for response in stream:
                    if response.HasField("flow"):
                        flows.append(_plain(response.flow))
                        if len(flows) >= query.number:
                            break
            finally:
                stream.cancel()
        except grpc.RpcError as exc:
            raise self._failed(exc, stub, target) from None
        return flows

    def server_status(self, *, timeout_s: float) -> Mapping[str, Any]:
        stub, target = self._connection(timeout_s)
        try:
            status = stub.ServerStatus(observer_pb2.ServerStatusRequest(), timeout=timeout_s)
        except grpc.RpcError as exc:
            raise self._failed(exc, stub, target) from None
        return _plain(status)

    def nodes(self, *, timeout_s: float) -> Sequence[Mapping[str, Any]]:
        stub, target = self._connection(timeout_s)
        try:
            answer = stub.GetNodes(observer_pb2.GetNodesRequest(), timeout=timeout_s)
        except grpc.RpcError as exc:
            raise self._failed(exc, stub, target) from None
        return [_plain(node) for node in answer.nodes]

    def stats(self) -> dict[str, float]:
        """Counters for the runner's status endpoint (each only grows)."""
        return {"hubble_discoveries_total": self.discoveries,
                "hubble_discovery_failures_total": self.discovery_failures,
                "hubble_tls_failures_total": self.tls_failures}

    def close(self) -> None:
        with self._lock:
            channel, self._channel, self._stub = self._channel, None, None
        if channel is not None:
            channel.close()

    def _connection(self, timeout_s: float) -> tuple[Any, RelayTarget]:
        """The stub and its target, resolving the relay first when there is none."""
        with self._lock:
            if self._stub is not None and self.target is not None:
                return self._stub, self.target
            if self._clock() - self._failed_at < self._retry_s:
                raise HubbleQueryError(self.last_discovery_error)
            try:
                target = self._resolve(timeout_s)
            except Exception as exc:  # noqa: BLE001 - discovery, API and file errors alike
                self.discovery_failures += 1
                self._failed_at = self._clock()
                self.last_discovery_error = _runner_words(
                    f"relay discovery failed (no plaintext fallback): {exc}")[:500]
                logger.warning("hubble relay for commands: %s", self.last_discovery_error)
                raise HubbleQueryError(self.last_discovery_error) from None
            self.discoveries += 1
            self._failed_at = -math.inf
            self.last_discovery_error = ""
            logger.info("hubble relay for commands: %s (%s)", target.address, target.reason)
            self._channel = self._channel_factory(target)
            self._stub = observer_pb2_grpc.ObserverStub(self._channel)
            self.target = target
            return self._stub, target

    def _failed(self, exc: grpc.RpcError, stub: Any, target: RelayTarget) -> HubbleQueryError:
        """The error answer; after UNAVAILABLE the next call resolves and dials again."""
        code = exc.code() if isinstance(exc, grpc.Call) else None
        details = str(exc.details() if isinstance(exc, grpc.Call) else exc)
        name = code.name if code is not None else "UNKNOWN"
        tls_problem = target.tls is not None and any(w in details.lower() for w in _TLS_WORDS)
        with self._lock:
            if code is grpc.StatusCode.UNAVAILABLE and self._stub is stub:
                self._stub, self._channel = None, None   # others may still use the old one
            self.tls_failures += tls_problem
        if target.tls is not None and tls_problem:
            text = (f"tls: TLS to hubble relay {target.address} failed (server name "
                    f"{target.tls.server_name}; {target.reason}); check hubble_tls_ca_file, "
                    "hubble_tls_ca_secret and hubble_tls_server_name; no plaintext fallback: "
                    f"{name}: {details}")
            logger.warning("hubble relay for commands: %s", text)
            return HubbleQueryError(text[:700])
        via = "TLS" if target.tls is not None else "plaintext"
        return HubbleQueryError(f"{name}: {details} (relay {target.address}, {via})"[:500])


def _flow_filter(fields: Mapping[str, list[Any]]) -> flow_pb2.FlowFilter:
    flow_filter = flow_pb2.FlowFilter()
    for name, values in fields.items():
        getattr(flow_filter, name).extend(values)
    return flow_filter


def _plain(message: Any) -> dict[str, Any]:
    return dict(json_format.MessageToDict(message, preserving_proto_field_name=True))


def _runner_words(text: str) -> str:
    for flows_words, runner_words in _KEY_WORDS:
        text = text.replace(flows_words, runner_words)
    return text
