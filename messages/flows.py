"""Messages of the flows domain: aggregated Hubble flow windows and the collector's status.

``FlowRecordsAggregated`` carries one window of ``actors.flows.aggregation`` records as msgpack
bytes (``messages.codec.pack_records`` of plain dicts; keys documented there) with the window
bounds, the record count and the window's counters (flows in, replies skipped, overflow, …).
``FlowCollectorStatus`` is what the status endpoint shows: the relay target and why it was
chosen, whether the stream is up, and the client counters (lost events, reconnects, gap, drops).
Both are plain data with constant-time ``__repr__`` and cannot fail to construct.
"""

from __future__ import annotations

import dataclasses

from messages import message

__all__ = ["FlowCollectorStatus", "FlowRecordsAggregated"]


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FlowRecordsAggregated:
    """One aggregation window of L3/L4 flows, ready for the uplink."""

    window_start_s: float
    window_end_s: float
    record_count: int
    payload: bytes                                  # msgpack list of record dicts
    counters: tuple[tuple[str, int], ...] = ()
    shard_index: int = 0

    def __repr__(self) -> str:
        return (f"FlowRecordsAggregated(n={self.record_count},{len(self.payload)}B,"
                f"shard={self.shard_index})")

    __str__ = __repr__


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FlowCollectorStatus:
    """The flow collector's view of its relay stream."""

    relay_address: str
    target_reason: str
    streaming: bool
    last_error: str = ""
    counters: tuple[tuple[str, int], ...] = ()

    def __repr__(self) -> str:
        return f"FlowCollectorStatus({self.relay_address},streaming={self.streaming})"

    __str__ = __repr__
