"""Messages of the access-log domain: aggregated L7 windows and the ALS receiver's status.

``AccessLogRecordsAggregated`` carries one window of ``actors.access_logs.l7_aggregation``
records as msgpack bytes (``messages.codec.pack_records`` of plain dicts: reporter, source and
destination workload, port, protocol, method, normalized path, code class, counts, bytes,
errors, response flags, latency p50/p95/p99) with the window bounds and counters.
``AccessLogReceiverStatus`` is what the status endpoint shows about the ALS server. Both are
plain data with constant-time ``__repr__`` and cannot fail to construct.
"""

from __future__ import annotations

import dataclasses

from messages import message

__all__ = ["AccessLogReceiverStatus", "AccessLogRecordsAggregated"]


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AccessLogRecordsAggregated:
    """One aggregation window of L7/L4 access-log records, ready for the uplink."""

    window_start_s: float
    window_end_s: float
    record_count: int
    payload: bytes                                  # msgpack list of record dicts
    counters: tuple[tuple[str, int], ...] = ()

    def __repr__(self) -> str:
        return f"AccessLogRecordsAggregated(n={self.record_count},{len(self.payload)}B)"

    __str__ = __repr__


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AccessLogReceiverStatus:
    """The ALS server's listener and counters (streams, messages, rejects, drops)."""

    listen_address: str
    active_streams: int
    counters: tuple[tuple[str, int], ...] = ()

    def __repr__(self) -> str:
        return (f"AccessLogReceiverStatus({self.listen_address},"
                f"streams={self.active_streams})")

    __str__ = __repr__
