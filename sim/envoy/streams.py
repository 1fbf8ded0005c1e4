"""Build the message streams simulated sidecars send: replayed fixtures and synthetic load.

Owns what each sidecar says. ``replay_stream`` takes a fixture stream (identifier only in frame
0, as Envoy does) and re-identifies it as sidecar ``index`` (node id, NAME, NAMESPACE, INSTANCE_IPS
rewritten; entries untouched). ``synthetic_stream`` builds HTTP messages with a seeded mix of
methods, paths with ids, response codes, durations and peers. Streams are lists of serialized
``StreamAccessLogsMessage`` bytes, built once and reusable.
"""

from __future__ import annotations

import random

from google.protobuf import struct_pb2

from messages.wire.envoy.config.core.v3 import address_pb2, base_pb2
from messages.wire.envoy.data.accesslog.v3 import accesslog_pb2
from messages.wire.envoy.service.accesslog.v3 import als_pb2
from sim.hubble import frames

__all__ = ["count_entries", "fixture_stream", "replay_stream", "synthetic_stream"]

Message = als_pb2.StreamAccessLogsMessage


def fixture_stream(kind: str) -> list[bytes]:
    """The golden stream ``envoy-als/<kind>.bin`` (kind: http or tcp)."""
    return frames.read_frames(f"envoy-als/{kind}.bin")


def count_entries(stream: list[bytes]) -> int:
    total = 0
    for raw in stream:
        message = Message.FromString(raw)
        total += len(message.http_logs.log_entry) + len(message.tcp_logs.log_entry)
    return total


def replay_stream(stream: list[bytes], index: int, max_messages: int = 0) -> list[bytes]:
    """The same stream as sent by sidecar ``index`` (pod ``<workload>-sim<index>``), cut to
    ``max_messages`` messages when that is > 0."""
    first = Message.FromString(stream[0])
    node = first.identifier.node
    fields = node.metadata.fields
    workload = fields["WORKLOAD_NAME"].string_value or "app"
    namespace = fields["NAMESPACE"].string_value or "default"
    pod = f"{workload}-sim{index}"
    ip = f"10.{200 + index // 65536 % 50}.{index // 256 % 256}.{index % 256}"
    fields["NAME"].string_value = pod
    fields["INSTANCE_IPS"].string_value = ip
    node.id = f"sidecar~{ip}~{pod}.{namespace}~{namespace}.svc.cluster.local"
    rest = stream[1:max_messages] if max_messages > 0 else stream[1:]
    return [first.SerializeToString(), *rest]


_METHODS = (base_pb2.GET, base_pb2.GET, base_pb2.GET, base_pb2.POST, base_pb2.PUT,
            base_pb2.DELETE)
_PATHS = ("/api/v1/orders/{n}", "/api/v1/cart", "/api/v1/users/{n}/profile",
          "/v1/payments/{u}/capture", "/healthz", "/api/v1/items?page={n}")
_CODES = (200, 200, 200, 200, 201, 204, 304, 404, 500, 503)
_PEERS = (("shop", "web"), ("shop", "cart"), ("shop", "checkout"), ("payments", "payments"),
          ("data", "catalog"))


def _address(ip: str, port: int) -> address_pb2.Address:
    address = address_pb2.Address()
    address.socket_address.address = ip
    address.socket_address.port_value = port
    return address


def synthetic_stream(index: int, *, messages: int = 10, entries_per_message: int = 50,
                     seed: int = 11) -> list[bytes]:
    """A sidecar of workload ``_PEERS[index % n]`` sending outbound HTTP calls."""
    rng = random.Random(seed * 1_000_003 + index)
    namespace, workload = _PEERS[index % len(_PEERS)]
    pod = f"{workload}-syn{index}"
    ip = f"10.{100 + index // 65536 % 50}.{index // 256 % 256}.{index % 256}"
    metadata = struct_pb2.Struct()
    metadata.update({"NAME": pod, "NAMESPACE": namespace, "WORKLOAD_NAME": workload,
                     "OWNER": f"kubernetes://apis/apps/v1/namespaces/{namespace}/deployments/"
                              f"{workload}", "INSTANCE_IPS": ip,
                     "LABELS": {"app": workload}})
    node = base_pb2.Node(id=f"sidecar~{ip}~{pod}.{namespace}~{namespace}.svc.cluster.local",
                         cluster=f"{workload}.{namespace}", metadata=metadata)
    out = []
    start_s = 1_795_000_000
    for number in range(messages):
        message = Message()
        if number == 0:
            message.identifier.node.CopyFrom(node)
            message.identifier.log_name = "http_envoy_accesslog"
        for _ in range(entries_per_message):
            peer_ns, peer = rng.choice(_PEERS)
            entry = message.http_logs.log_entry.add()
            entry.protocol_version = accesslog_pb2.HTTPAccessLogEntry.HTTP11
            common = entry.common_properties
            common.start_time.seconds = start_s + number
            common.start_time.nanos = rng.randrange(1_000_000_000)
            common.duration.nanos = int(rng.lognormvariate(2.5, 0.8) * 1e6) % 999_000_000
            common.upstream_cluster = f"outbound|8080||{peer}.{peer_ns}.svc.cluster.local"
            common.downstream_remote_address.CopyFrom(_address(ip, rng.randrange(30000, 60000)))
            common.upstream_remote_address.CopyFrom(_address("10.9.0.1", 8080))
            common.access_log_type = accesslog_pb2.DownstreamEnd
            entry.request.request_method = rng.choice(_METHODS)
            entry.request.authority = f"{peer}.{peer_ns}:8080"
            entry.request.path = rng.choice(_PATHS).format(
                n=rng.randrange(1, 10**6), u=f"{rng.getrandbits(128):032x}")
            entry.request.request_body_bytes = rng.randrange(0, 2000)
            entry.response.response_code.value = rng.choice(_CODES)
            entry.response.response_body_bytes = rng.randrange(0, 20000)
        out.append(message.SerializeToString())
    return out
