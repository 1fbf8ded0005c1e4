"""Synthetic Hubble flows: a seeded pool of realistic GetFlowsResponses across many nodes.

Owns load generation beyond the 2,000 fixture frames: pods of Deployments/StatefulSets/
DaemonSets in a few namespaces talking TCP/UDP to services, some world traffic, some drops
with policy names, a share of reply packets (so relay-side reply filtering matters). The pool
is encoded once; ``FlowSequence`` stamps the times. Deterministic for a given seed.
"""

from __future__ import annotations

import random

from messages.wire.flow import flow_pb2
from messages.wire.observer import observer_pb2
from sim.hubble.flow_source import PoolEntry, pool_from_responses

__all__ = ["synthetic_pool"]

_NAMESPACES = ("shop", "payments", "data", "monitoring", "default")
_WORKLOADS = (("Deployment", "web"), ("Deployment", "cart"), ("Deployment", "checkout"),
              ("StatefulSet", "postgres"), ("StatefulSet", "redis"), ("DaemonSet", "agent"))
_PORTS = (80, 443, 5432, 6379, 8080, 9090, 53)


def _endpoint(rng: random.Random, namespace: str, kind: str, name: str) -> flow_pb2.Endpoint:
    pod = f"{name}-{rng.randrange(16**5):05x}-{rng.randrange(16**5):05x}"
    return flow_pb2.Endpoint(
        ID=rng.randrange(1, 4000), identity=rng.randrange(20_000, 60_000), namespace=namespace,
        cluster_name="sim", pod_name=pod, labels=[f"k8s:app={name}",
                                                  f"k8s:io.kubernetes.pod.namespace={namespace}"],
        workloads=[flow_pb2.Workload(name=name, kind=kind)])


def synthetic_pool(count: int = 4096, *, nodes: int = 6, seed: int = 7,
                   cluster: str = "sim") -> list[PoolEntry]:
    rng = random.Random(seed)
    responses = []
    for _ in range(count):
        node = f"{cluster}/node-{rng.randrange(nodes) + 1}"
        src_ns, dst_ns = rng.choice(_NAMESPACES), rng.choice(_NAMESPACES)
        src_kind, src_name = rng.choice(_WORKLOADS)
        dst_kind, dst_name = rng.choice(_WORKLOADS)
        port = rng.choice(_PORTS)
        dropped = rng.random() < 0.08
        flow = flow_pb2.Flow(
            verdict=flow_pb2.DROPPED if dropped else flow_pb2.FORWARDED,
            drop_reason_desc=(flow_pb2.POLICY_DENIED if dropped
                              else flow_pb2.DROP_REASON_UNKNOWN),
            Type=flow_pb2.L3_L4, node_name=node,
            IP=flow_pb2.IP(source=f"10.{rng.randrange(256)}.{rng.randrange(256)}.7",
                           destination=f"10.{rng.randrange(256)}.{rng.randrange(256)}.9",
                           ipVersion=flow_pb2.IPv4),
            source=_endpoint(rng, src_ns, src_kind, src_name),
            traffic_direction=rng.choice((flow_pb2.INGRESS, flow_pb2.EGRESS)),
            event_type=flow_pb2.CiliumEventType(type=1 if dropped else 4),
            Summary="TCP Flags: SYN")
        if rng.random() < 0.1:
            flow.destination.labels.append("reserved:world")
            flow.destination.identity = 2
        else:
            flow.destination.CopyFrom(_endpoint(rng, dst_ns, dst_kind, dst_name))
            flow.destination_service.name, flow.destination_service.namespace = dst_name, dst_ns
        sport = rng.randrange(32768, 60999)
        if port == 53:
            flow.l4.UDP.source_port, flow.l4.UDP.destination_port = sport, port
        else:
            flow.l4.TCP.source_port, flow.l4.TCP.destination_port = sport, port
            flow.l4.TCP.flags.SYN = True
        if not dropped:
            flow.is_reply.value = rng.random() < 0.3
        if dropped:
            flow.egress_denied_by.add(name="deny-all", namespace=src_ns,
                                      kind="CiliumNetworkPolicy")
        else:
            flow.ingress_allowed_by.add(name=f"allow-{dst_name}", namespace=dst_ns,
                                        kind="NetworkPolicy")
        responses.append(observer_pb2.GetFlowsResponse(flow=flow, node_name=node))
    return pool_from_responses(responses)
