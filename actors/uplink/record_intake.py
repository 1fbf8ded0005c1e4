"""What the CloudUplink actor does with one batch from a producer link (plain logic).

Maps the link record kinds (``messages.records``) onto the uplink core:
- ``inventory``, ``incident``, ``logs`` → lossless ``core.accept`` (INVENTORY, EVENTS, LOGS);
  ``flows``, ``l7``, ``operator_stats`` → lossy ``core.accept`` (FLOWS, L7, OPERATOR_STATS);
  the lossless flag comes from ``LOSSLESS_KINDS``;
- ``inventory_commit`` records ``{session, counts}`` → ``core.commit_inventory``;
- ``command_result`` records ``{request_id, status, error, payload, truncated}`` →
  ``core.complete_command`` (late or unknown request ids are counted by the core, not sent).
``take`` answers ACCEPTED (finish the batch), BACKPRESSURE (the spool is full: keep the batch
unfinished and offer it again later; nothing was applied) or REJECTED (a kind the uplink does
not carry, an undecodable payload, a batch the spool can never hold: counted and logged, the
caller finishes it). Never raises on bad input.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Mapping
from typing import Any

from actors.uplink.uplink_core import AcceptOutcome, UplinkCore
from messages import codec
from messages.records import LOSSLESS_KINDS, RecordKind
from messages.uplink import CloudCommandAnswered, CloudCommandStatus, UplinkRecordKind

__all__ = ["CONTROL_KINDS", "TELEMETRY_KINDS", "RecordIntake"]

logger = logging.getLogger(__name__)

# link record kind -> (cloud record kind, lossless)
TELEMETRY_KINDS: dict[str, tuple[UplinkRecordKind, bool]] = {
    link_kind.value: (cloud_kind, link_kind in LOSSLESS_KINDS)
    for link_kind, cloud_kind in ((RecordKind.INVENTORY, UplinkRecordKind.INVENTORY),
                                  (RecordKind.INCIDENT, UplinkRecordKind.EVENTS),
                                  (RecordKind.LOGS, UplinkRecordKind.LOGS),
                                  (RecordKind.FLOWS, UplinkRecordKind.FLOWS),
                                  (RecordKind.L7, UplinkRecordKind.L7),
                                  (RecordKind.OPERATOR_STATS, UplinkRecordKind.OPERATOR_STATS))}
CONTROL_KINDS = frozenset({RecordKind.INVENTORY_COMMIT.value, RecordKind.COMMAND_RESULT.value})
_CONTROL_OVERHEAD = 256          # spool framing of one control item, generously
_STATUSES = {status.value: status for status in CloudCommandStatus}


class RecordIntake:
    """Applies producer batches to an ``UplinkCore``; counts what it refused."""

    def __init__(self, core: UplinkCore) -> None:
        self.core = core
        self.counters: collections.Counter[str] = collections.Counter(dict.fromkeys(
            ("rejected_batches_total", "rejected_records_total", "inventory_commits_total",
             "command_results_total", "command_results_late_total",
             "bad_control_records_total"), 0))

    def take(self, record_kind: str, count: int, payload: bytes) -> AcceptOutcome:
        mapped = TELEMETRY_KINDS.get(record_kind)
        if mapped is not None:
            outcome = self.core.accept(mapped[0], count, payload, mapped[1])
            if outcome is AcceptOutcome.REJECTED:
                self._reject(record_kind, count, "the uplink core refused it (see its log)")
            return outcome
        if record_kind not in CONTROL_KINDS:
            self._reject(record_kind, count, "not a kind the uplink carries")
            return AcceptOutcome.REJECTED
        if not self.core.spool.has_room(len(payload) + _CONTROL_OVERHEAD * max(1, count)):
            return AcceptOutcome.BACKPRESSURE
        try:
            records = codec.unpack_records(payload)
        except codec.CodecError as error:
            self._reject(record_kind, count, f"undecodable payload: {error}")
            return AcceptOutcome.REJECTED
        for record in records:
            if record_kind == RecordKind.INVENTORY_COMMIT.value:
                self._commit(record)
            else:
                self._result(record)
        return AcceptOutcome.ACCEPTED

    def _commit(self, record: Any) -> None:
        counts = record.get("counts") if isinstance(record, Mapping) else None
        session = record.get("session") if isinstance(record, Mapping) else None
        if not isinstance(session, str) or not session or not isinstance(counts, Mapping) or \
                not all(isinstance(n, int) and not isinstance(n, bool) for n in counts.values()):
            self._bad_control("inventory_commit", record)
            return
        self.core.commit_inventory(session, {str(k): int(v) for k, v in counts.items()})
        self.counters["inventory_commits_total"] += 1

    def _result(self, record: Any) -> None:
        request_id = record.get("request_id") if isinstance(record, Mapping) else None
        if not isinstance(record, Mapping) or not isinstance(request_id, str) or not request_id:
            self._bad_control("command_result", record)
            return
        status = _STATUSES.get(str(record.get("status", "")))
        error = str(record.get("error") or "")
        if status is None:
            error = f"owner answered an unknown status {str(record.get('status'))[:40]!r}"
            status = CloudCommandStatus.FAILED
        payload = record.get("payload", b"")
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        elif not isinstance(payload, bytes):
            payload = codec.pack_records([payload])
        answer = CloudCommandAnswered(request_id=request_id, status=status, error=error,
                                      payload=payload, truncated=bool(record.get("truncated")))
        self.counters["command_results_total"] += 1
        if self.core.complete_command(answer) is AcceptOutcome.REJECTED:
            self.counters["command_results_late_total"] += 1

    def _reject(self, record_kind: str, count: int, why: str) -> None:
        self.counters["rejected_batches_total"] += 1
        self.counters["rejected_records_total"] += max(0, count)
        logger.error("uplink: rejected a batch of %d %r records: %s", count, record_kind[:40], why)

    def _bad_control(self, record_kind: str, record: Any) -> None:
        self.counters["bad_control_records_total"] += 1
        logger.error("uplink: malformed %s record ignored: %.200r", record_kind, record)
