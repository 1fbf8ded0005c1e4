"""Many simulated sidecars streaming access logs at once over grpc.aio.

Owns the client side of ALS for tests and benches: each sidecar opens its own channel (its own
HTTP/2 connection, as each Envoy does) and one ``StreamAccessLogs`` client stream, sends its
first message, and — when ``hold_open`` — waits until every sidecar's stream is open before
sending the rest, so a server really holds N concurrent streams. Every stream's outcome is
reported (OK or the gRPC status and details); nothing is retried silently.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import grpc

__all__ = ["SidecarReport", "run_sidecars"]

METHOD = "/envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs"


@dataclasses.dataclass
class SidecarReport:
    """What happened to every simulated sidecar stream."""

    streams_ok: int = 0
    streams_failed: int = 0
    messages_sent: int = 0
    statuses: dict[str, int] = dataclasses.field(default_factory=dict)


class _Gate:
    """Counts streams that reached their first message; releases them all together."""

    def __init__(self, expected: int) -> None:
        self.expected, self.arrived = expected, 0
        self.all_arrived, self.release = asyncio.Event(), asyncio.Event()

    def arrive(self) -> None:
        self.arrived += 1
        if self.arrived >= self.expected:
            self.all_arrived.set()


async def _one(target: str, stream: Sequence[bytes], gate: _Gate | None,
               report: SidecarReport, timeout: float) -> None:
    # a local subchannel pool: otherwise grpc shares ONE connection among same-target channels
    options = [("grpc.use_local_subchannel_pool", 1)]
    async with grpc.aio.insecure_channel(target, options=options) as channel:
        call_factory = channel.stream_unary(METHOD, request_serializer=None,
                                            response_deserializer=None)

        async def requests() -> AsyncIterator[bytes]:
            for index, raw in enumerate(stream):
                if index == 0 and gate is not None:
                    gate.arrive()  # counted before the yield: a refused stream never resumes
                yield raw
                report.messages_sent += 1
                if index == 0 and gate is not None:
                    await gate.release.wait()

        try:
            await call_factory(requests(), timeout=timeout)
            report.streams_ok += 1
            report.statuses["OK"] = report.statuses.get("OK", 0) + 1
        except grpc.aio.AioRpcError as exc:
            report.streams_failed += 1
            name = f"{exc.code().name}: {exc.details()}"
            report.statuses[name] = report.statuses.get(name, 0) + 1


async def run_sidecars(target: str, streams: Sequence[Sequence[bytes]], *,
                       hold_open: bool = False, timeout: float = 60.0,
                       hold_until: Callable[[], Awaitable[None]] | None = None) -> SidecarReport:
    """Send every stream concurrently; returns what happened to each.

    With ``hold_open`` every stream sends its first message and waits until all have reached
    theirs and ``hold_until()`` returned (e.g. "the server reports N open streams").
    """
    report = SidecarReport()
    gate = _Gate(len(streams)) if hold_open and streams else None
    tasks = [asyncio.ensure_future(_one(target, s, gate, report, timeout)) for s in streams]
    if gate is not None:
        await asyncio.wait_for(gate.all_arrived.wait(), timeout)
        if hold_until is not None:
            await asyncio.wait_for(hold_until(), timeout)
        gate.release.set()
    await asyncio.gather(*tasks)
    return report
