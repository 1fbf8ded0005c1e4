"""Stream passes for ``python -m bench flows``: one GetFlows pass through a null consumer, a
counting pass, and the operator's pipeline (client → enrichment → aggregation), each timed.

Owns nothing persistent: every pass opens its own channel and closes it. A pass that does not
see the flows it expects within its deadline returns what it saw; the caller checks the counts.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from typing import Any

import grpc

from actors.flows.aggregation import FlowAggregator
from actors.flows.flow_request_codec import build_request, shard_nodes
from actors.flows.hubble_client_adapter import (
    GET_FLOWS,
    FlowBatch,
    HubbleFlowClient,
    relay_channel,
)
from actors.flows.pod_index_copy import PodIndexCopy
from actors.flows.relay_discovery import RelayTarget
from actors.flows.settings import FlowSettings
from messages.wire.observer import observer_pb2
from sim.hubble.history import build_sequence
from sim.hubble.observer_semantics import AllowedSlots, relay_nodes


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc``; 0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_get_flows(channel: grpc.Channel, settings: FlowSettings,
                   nodes: list[str] | None) -> Any:
    """A GetFlows call on ``channel`` with the client's own request, frames left as bytes."""
    stream = channel.unary_stream(
        GET_FLOWS, request_serializer=observer_pb2.GetFlowsRequest.SerializeToString,
        response_deserializer=None)
    return stream(build_request(settings, nodes, None), timeout=120)


def null_consumer(target: str, settings: FlowSettings, expect: int) -> tuple[int, float]:
    """Receive ``expect`` raw responses and do nothing with them: the transport's rate (the
    same channel, options and request as ``HubbleFlowClient``)."""
    with relay_channel(RelayTarget(target, None, "bench"), settings) as channel:
        call = open_get_flows(channel, settings, None)
        count, started = 0, time.perf_counter()
        for _ in call:
            count += 1
            if count >= expect:
                break
        elapsed = time.perf_counter() - started
        call.cancel()
    return count, elapsed


def count_pass(target: str, settings: FlowSettings, nodes: list[str] | None) -> int:
    """How many responses the relay sends for this request: read until the stream idles."""
    counted = [0]
    with grpc.insecure_channel(target) as channel:
        call = open_get_flows(channel, settings, nodes)

        def reader() -> None:
            try:
                for _ in call:
                    counted[0] += 1
            except grpc.RpcError:
                pass
        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        previous = -1
        while counted[0] != previous:
            previous = counted[0]
            time.sleep(0.5)
        call.cancel()
        thread.join(5)
    return counted[0]


def pipeline(target: str, settings: FlowSettings, expect: int) -> tuple[int, float]:
    sink: queue.Queue[FlowBatch] = queue.Queue(maxsize=256)
    client = HubbleFlowClient(RelayTarget(target, None, "bench"), settings, sink)
    aggregator = FlowAggregator()
    # the actor's path: enrichment from its pod index copy (empty here: the synthetic endpoints
    # carry their workloads, so every shape is looked up once and left as it is)
    enrich = PodIndexCopy().enrich_flows
    started = time.perf_counter()
    client.start()
    got = 0
    deadline = started + 120
    try:
        while got < expect and time.perf_counter() < deadline:
            try:
                batch = sink.get(timeout=0.1)
            except queue.Empty:
                client.flush_pending()
                continue
            aggregator.add_many(enrich(batch.records))
            got += len(batch.records)
        elapsed = time.perf_counter() - started
    finally:
        client.stop()
    window = aggregator.flush()
    assert sum(r["count"] for r in window.records) == got
    return got, elapsed


def expected_passes(target: str, total: int, nodes: int) -> tuple[int, list[int]]:
    """Flows per unsharded pass and per shard of 2, as served: the unsharded count must be what
    the filters allow in the history and the shards must add up to it (each flow exactly once)."""
    settings = FlowSettings()
    sequence = build_sequence("synthetic", total=total, nodes=nodes)
    names = relay_nodes(sequence)
    allowed = AllowedSlots(sequence).for_request(build_request(settings, None, None))
    expect = count_pass(target, settings, None)
    per_shard = [count_pass(target, settings, shard_nodes(names, 2, i)) for i in range(2)]
    if expect != sum(allowed[i % len(allowed)] for i in range(total)) or \
            sum(per_shard) != expect:
        raise RuntimeError(f"{target} served {expect} flows per pass, shards {per_shard}")
    return expect, per_shard
