"""GetFlowsResponse → compact flow records, node-status and lost-event accounting.

Owns the only translation from Hubble's wire bytes into the plain flows the aggregation
understands. Every response is one of: a flow (→ a record), a relay ``node_status`` event
(counted per state, nodes remembered), or ``lost_events`` (the relay/agent says N events were
lost: summed per source, never hidden). Bad input never raises: undecodable bytes count
``malformed_frames``, enum numbers this schema does not know count ``unknown_enum_values`` (per
flow) and are kept as ``UNKNOWN_<n>``; an empty response counts ``empty_responses``.
Hot path (``decode_many``): a batch of responses is framed as one ``flow_view_codec.BatchView``
and parsed once; unknown fields (source port, uuid, summary, ...) are discarded, each flow's
time is read and cleared, and the bytes that remain (endpoints, service, addresses, ports,
verdict, policies, node, ...) key a bounded memo of ``FlowShape``s: a flow like one seen before
costs one serialization and one dict lookup, and only a new shape is decoded field by field
(``flow_fields_codec``, through bounded sub-message caches). The shape memo holds at most
``CACHE_LIMIT`` entries and is cleared when full (``decode_cache_resets``).
A batch that does not parse as a whole is decoded response by response.
"""

from __future__ import annotations

import collections
import itertools
import operator
from collections.abc import Iterable
from typing import Any

from google.protobuf.message import DecodeError

from actors.flows.flow_fields_codec import FlowFieldDecoder
from actors.flows.flow_records import DecodedFlows, EndpointInfo, FlowRecord, FlowShape
from actors.flows.flow_view_codec import BatchView, FlowView, frame_batch
from messages.wire.flow import flow_pb2
from messages.wire.observer import observer_pb2
from messages.wire.relay import relay_pb2

__all__ = ["CACHE_LIMIT", "EndpointInfo", "FlowDecoder", "FlowRecord"]

_NODE_STATES = {v.number: v.name for v in relay_pb2.NodeState.DESCRIPTOR.values}
_LOST_SOURCES = {v.number: v.name for v in flow_pb2.LostEventSource.DESCRIPTOR.values}
CACHE_LIMIT = 16_384            # shapes remembered (sub-message caches: flow_fields_codec)
_ONEOF = "response_types"
_FLOW, _TIME = operator.attrgetter("flow"), operator.attrgetter("time")
_CLEAR, _SERIALIZE = FlowView.ClearField, FlowView.SerializeToString
_MALFORMED = object()           # marks a flow whose sub-messages do not decode


class FlowDecoder(FlowFieldDecoder):
    """Decodes responses and keeps the counters the status endpoint and the uplink report."""

    def __init__(self) -> None:
        super().__init__()
        self.node_states: dict[str, str] = {}   # node name -> last reported state
        self._shapes: dict[bytes, FlowShape] = {}
        self._flagged: list[FlowShape] = []     # shapes in the memo with unknown enum numbers
        self._retired: list[FlowShape] = []     # flagged ones of a reset memo, not yet counted

    def decode(self, response: observer_pb2.GetFlowsResponse) -> FlowRecord | None:
        """``decode_bytes`` of an already-built response (tests and tools)."""
        return self.decode_bytes(response.SerializeToString())

    def decode_bytes(self, raw: bytes) -> FlowRecord | None:
        """A record for a flow; ``None`` (after counting) for status, lost events, empties and
        undecodable bytes."""
        flows = self.decode_many([raw])
        return flows[0] if flows else None

    def decode_many(self, raws: Iterable[bytes]) -> DecodedFlows:
        """The flows of many serialized responses (others only counted), in order.

        Column by column, mostly as ``map`` over the whole batch: each flow's time, then its
        time cleared, its bytes serialized and looked up in the shape memo; only non-flow
        responses and new shapes take a per-item Python path."""
        raws = raws if isinstance(raws, list) else list(raws)
        if not raws:
            return DecodedFlows([], [])
        try:
            batch = BatchView.FromString(frame_batch(raws))
        except DecodeError:
            if len(raws) == 1:
                self.counters["malformed_frames"] += 1
                return DecodedFlows([], [])
            return DecodedFlows.joined(self.decode_many([raw]) for raw in raws)
        responses = batch.responses
        flows = list(map(_FLOW, responses))   # a read-only default where a response is no flow
        times = [stamp.seconds * 1_000_000_000 + stamp.nanos for stamp in map(_TIME, flows)]
        if 0 in times:  # maybe not flows: status, lost events, empties (or a flow without time)
            flows, times = self._only_flows(responses, flows, times)
        collections.deque(map(_CLEAR, flows, itertools.repeat("time")), maxlen=0)
        batch.DiscardUnknownFields()          # source ports, uuids, ...: never part of a shape
        keys = list(map(_SERIALIZE, flows))
        shapes: list[Any] = list(map(self._shapes.get, keys))
        if None in shapes:
            shapes, times = self._add_new_shapes(keys, flows, shapes, times)
        self.counters["flows"] += len(times)
        if self._flagged or self._retired:
            self._count_unknown_enums(shapes)
        return DecodedFlows(shapes, times)

    def _only_flows(self, responses: Any, flows: list[Any], times: list[int]
                    ) -> tuple[list[Any], list[int]]:
        """Account the responses that are not flows and drop them from the columns."""
        kept_flows, kept_times = [], []
        for response, flow, time_ns in zip(responses, flows, times, strict=True):
            if time_ns or response.WhichOneof(_ONEOF) == "flow":
                kept_flows.append(flow)
                kept_times.append(time_ns)
            else:
                self._other(response)
        return kept_flows, kept_times

    def _add_new_shapes(self, keys: list[bytes], flows: list[Any], shapes: list[Any],
                        times: list[int]) -> tuple[list[FlowShape], list[int]]:
        """Fill the memo misses (``None`` in ``shapes``); flows whose bytes do not decode are
        dropped (counted as malformed)."""
        index, malformed = 0, False
        while True:
            try:
                index = shapes.index(None, index)
            except ValueError:
                break
            shape = self._shapes.get(keys[index]) or self._new_shape(keys[index], flows[index])
            shapes[index] = shape if shape is not None else _MALFORMED
            malformed = malformed or shape is None
            index += 1
        if not malformed:
            return shapes, times
        valid = [shape is not _MALFORMED for shape in shapes]
        return list(itertools.compress(shapes, valid)), list(itertools.compress(times, valid))

    def _new_shape(self, shape_bytes: bytes, flow: Any) -> FlowShape | None:
        """Decode a flow not seen before (its time already cleared) and remember its shape."""
        unknown: list[str] = []
        try:
            record = self.record(flow, unknown)
        except DecodeError:  # a sub-message (endpoint, policy, ...) that does not parse
            self.counters["malformed_frames"] += 1
            return None
        shapes = self._shapes
        if len(shapes) >= CACHE_LIMIT:
            shapes.clear()
            self._retired += self._flagged
            self._flagged = []
            self.counters["decode_cache_resets"] += 1
        shape = shapes[shape_bytes] = FlowShape(record, tuple(unknown))
        if unknown:
            self._flagged.append(shape)
        return shape

    def _count_unknown_enums(self, shapes: list[FlowShape]) -> None:
        """Count ``unknown_enum_values.*`` once per flow of every flagged shape in the batch."""
        per_shape = collections.Counter(shapes)
        for shape in itertools.chain(self._flagged, self._retired):
            flows = per_shape[shape]
            if flows:
                for name in shape.unknown_enums:
                    self.counters[name] += flows
        self._retired = []

    def _other(self, response: Any) -> None:
        """Account a response that is not a flow."""
        try:
            kind = response.WhichOneof(_ONEOF)
            if kind == "node_status":
                self._node_status(relay_pb2.NodeStatusEvent.FromString(response.node_status))
            elif kind == "lost_events":
                self._lost_events(flow_pb2.LostEvent.FromString(response.lost_events))
            else:
                self.counters["empty_responses"] += 1
        except DecodeError:
            self.counters["malformed_frames"] += 1

    def _node_status(self, status: relay_pb2.NodeStatusEvent) -> None:
        state = self._enum_name(_NODE_STATES, status.state_change, "node_state")
        self.counters[f"node_status.{state}"] += 1
        for name in status.node_names:
            self.node_states[name] = state

    def _lost_events(self, lost: flow_pb2.LostEvent) -> None:
        source = self._enum_name(_LOST_SOURCES, lost.source, "lost_event_source")
        self.counters["lost_events"] += lost.num_events_lost
        self.counters[f"lost_events.{source}"] += lost.num_events_lost
