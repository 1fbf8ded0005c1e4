"""What Kestrel Cloud has seen, as the demo shows it: records per source, acks, commands.

Reads the simulated cloud's recorder (thread-safe snapshots) and sends commands through its
stream server. Owns the translation from recorder counters to per-second rates and from
``CommandResult`` payloads (msgpack maps) to one printable line.
"""

from __future__ import annotations

import time
from typing import Any

import msgpack

from messages.wire.kestrel.cloud.v1 import uplink_pb2 as pb
from sim.cloud.cloud import SimulatedCloud

__all__ = ["SOURCES", "CloudView"]

SOURCES = ("RECORD_KIND_INVENTORY", "RECORD_KIND_EVENTS", "RECORD_KIND_LOGS",
           "RECORD_KIND_FLOWS", "RECORD_KIND_L7")
_SHORT = {"RECORD_KIND_INVENTORY": "inventory", "RECORD_KIND_EVENTS": "events",
          "RECORD_KIND_LOGS": "logs", "RECORD_KIND_FLOWS": "flows", "RECORD_KIND_L7": "l7"}


class CloudView:
    """Rates and command round trips against one ``SimulatedCloud``."""

    def __init__(self, cloud: SimulatedCloud) -> None:
        self.cloud = cloud
        self._last = (time.monotonic(), self.totals())
        self._sent: dict[str, float] = {}

    def totals(self) -> dict[str, int]:
        recorder = self.cloud.recorder
        with recorder.lock:
            counts = dict(recorder.records_by_kind)
            counts["acked"] = recorder.acked_through
            counts["commits"] = len(recorder.inventory_commits)
        return counts

    def rates(self) -> tuple[dict[str, int], dict[str, float]]:
        now, totals = time.monotonic(), self.totals()
        then, before = self._last
        self._last = (now, totals)
        elapsed = max(1e-6, now - then)
        return totals, {kind: (totals.get(kind, 0) - before.get(kind, 0)) / elapsed
                        for kind in SOURCES}

    @staticmethod
    def short(kind: str) -> str:
        return _SHORT.get(kind, kind)

    def send(self, request_id: str, deadline_s: float = 20.0, **request: Any) -> None:
        command = pb.Command(request_id=request_id,
                             deadline_unix_ms=int((time.time() + deadline_s) * 1000), **request)
        self._sent[request_id] = time.monotonic()
        self.cloud.stream.send_command(command)

    def result(self, request_id: str) -> pb.CommandResult | None:
        with self.cloud.recorder.lock:
            return self.cloud.recorder.command_results.get(request_id)

    def wait(self, request_id: str, within_s: float = 20.0) -> pb.CommandResult | None:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            found = self.result(request_id)
            if found is not None:
                return found
            time.sleep(0.1)
        return None

    @staticmethod
    def describe(result: pb.CommandResult | None, width: int = 110) -> str:
        if result is None:
            return "no answer (yet)"
        status = pb.CommandStatus.Name(result.status).removeprefix("COMMAND_STATUS_")
        text = f"{status}"
        if result.error:
            text += f" — {result.error}"
        try:
            payload = msgpack.unpackb(result.payload, raw=False) if result.payload else None
        except (ValueError, msgpack.ExtraData):
            payload = None
        if isinstance(payload, dict):
            shown = {k: v for k, v in payload.items() if k not in ("error",)}
            text += f" — {str(shown)[:width]}"
        elif isinstance(payload, list):   # metrics answers: a list of series
            text += f" — {len(payload)} series"
            for series in payload[:3]:
                if isinstance(series, dict):
                    values = series.get("values") or []
                    text += (f"; {series.get('metric')} {series.get('labels')} "
                             f"last={values[-1] if values else None}")
        return text[:width * 2]
