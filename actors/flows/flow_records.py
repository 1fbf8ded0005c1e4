"""Decoded flows as plain data: ``FlowRecord`` tuples and the columnar batch that carries them.

Owns the shapes the flow pipeline passes between decoder, enrichment and aggregation. A
``FlowShape`` is everything the decoder keeps of a flow except its time (endpoints, addresses,
ports, verdict, policies, node, ...): flows that differ only in time (and in what is never read,
such as the source port) share one shape object, so enrichment and aggregation work once per
shape instead of once per flow. A ``DecodedFlows`` batch is two parallel columns, shapes and
times; it is a read-only ``Sequence[FlowRecord]`` whose records are built only when someone
asks for them (tests, tools), never on the hot path. Plain data: no I/O, raises nothing beyond
the usual ``IndexError``/``TypeError`` of a sequence.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple, overload

__all__ = ["DecodedFlows", "EndpointInfo", "FlowRecord", "FlowShape"]


class EndpointInfo(NamedTuple):
    """One side of a flow, as Hubble enriched it (namespace and workload may be empty)."""

    namespace: str
    pod: str
    workload_kind: str
    workload_name: str
    identity: int
    labels: tuple[str, ...]     # only for peers without a workload (see flow_codec._endpoint)
    cluster: str


class FlowRecord(NamedTuple):
    """One decoded flow; ``time_ns`` is the flow's own observation time (not ours)."""

    time_ns: int
    verdict: str
    drop_reason: str
    ip_version: int
    source_ip: str
    destination_ip: str
    l4_protocol: str            # TCP/UDP/SCTP/ICMPv4/ICMPv6/VRRP/IGMP or "" when absent
    destination_port: int       # 0 for protocols without ports
    source: EndpointInfo
    destination: EndpointInfo
    destination_service: str    # "namespace/name" or ""
    traffic_direction: str
    is_reply: bool | None       # None = the datapath did not know
    allowed_by: tuple[str, ...]  # "ingress:Kind:namespace/name" / "egress:..."
    denied_by: tuple[str, ...]
    node_name: str
    event_type: int


class FlowShape:
    """A flow without its time; compared and hashed by identity (one object per distinct shape).

    ``record`` is the flow with ``time_ns`` 0 (or any time: only ``DecodedFlows`` supplies
    times); ``unknown_enums`` names the ``unknown_enum_values.*`` counters each flow of this
    shape adds.
    """

    __slots__ = ("record", "unknown_enums")

    def __init__(self, record: FlowRecord, unknown_enums: tuple[str, ...] = ()) -> None:
        self.record = record
        self.unknown_enums = unknown_enums

    def at(self, time_ns: int) -> FlowRecord:
        """The full record of a flow of this shape seen at ``time_ns``."""
        return self.record._replace(time_ns=time_ns)

    def __repr__(self) -> str:
        return f"FlowShape({self.record!r})"


def _at(shape: FlowShape, time_ns: int) -> FlowRecord:
    return shape.at(time_ns)


class DecodedFlows(Sequence[FlowRecord]):
    """Flows in arrival order as two parallel columns: ``shapes[i]`` seen at ``times[i]``."""

    __slots__ = ("shapes", "times")

    def __init__(self, shapes: list[FlowShape], times: list[int]) -> None:
        if len(shapes) != len(times):
            raise ValueError(f"{len(shapes)} shapes for {len(times)} times")
        self.shapes = shapes
        self.times = times

    @classmethod
    def of(cls, records: Iterable[FlowRecord]) -> DecodedFlows:
        """Plain records as a batch (each its own shape: nothing is shared)."""
        records = list(records)
        return cls([FlowShape(record) for record in records],
                   [record.time_ns for record in records])

    @classmethod
    def joined(cls, parts: Iterable[DecodedFlows]) -> DecodedFlows:
        shapes: list[FlowShape] = []
        times: list[int] = []
        for part in parts:
            shapes += part.shapes
            times += part.times
        return cls(shapes, times)

    def newest_time_ns(self) -> int | None:
        return max(self.times) if self.times else None

    def __len__(self) -> int:
        return len(self.times)

    def __iter__(self) -> Iterator[FlowRecord]:
        return map(_at, self.shapes, self.times)

    @overload
    def __getitem__(self, index: int) -> FlowRecord: ...

    @overload
    def __getitem__(self, index: slice) -> DecodedFlows: ...

    def __getitem__(self, index: int | slice) -> FlowRecord | DecodedFlows:
        if isinstance(index, slice):
            return DecodedFlows(self.shapes[index], self.times[index])
        return self.shapes[index].at(self.times[index])

    def __repr__(self) -> str:
        return f"DecodedFlows({len(self)} flows, {len(set(self.shapes))} shapes)"
