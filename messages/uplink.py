"""Messages of the cloud uplink: stream events from the cloud, and commands routed to components.

Flow (see actors/uplink):
- the stream adapter turns what the cloud sends into ``CloudSessionWelcomed``,
  ``CloudBatchesAcked``, ``CloudCommandReceived`` and ``CloudHeartbeatReceived``, and reports
  connection changes as ``UplinkStreamOpened`` / ``UplinkStreamClosed``; each carries the
  stream ``epoch`` (one per opened stream) so the uplink core ignores news from a dead stream;
- the uplink core routes a command to the component that owns its kind as ``CloudCommandIssued``
  and expects one ``CloudCommandAnswered`` with the same ``request_id`` before the deadline; a
  command past its deadline is answered by the uplink itself with ``DEADLINE_EXCEEDED``.
Command arguments travel as msgpack bytes of a plain mapping (the typed protobuf fields by name).
"""

from __future__ import annotations

import dataclasses
import enum

from messages import message

__all__ = [
    "CloudBatchesAcked",
    "CloudCommandAnswered",
    "CloudCommandIssued",
    "CloudCommandKind",
    "CloudCommandReceived",
    "CloudCommandStatus",
    "CloudHeartbeatReceived",
    "CloudSessionWelcomed",
    "UplinkRecordKind",
    "UplinkStreamClosed",
    "UplinkStreamOpened",
]


class UplinkRecordKind(enum.Enum):
    """What a telemetry batch holds; flows and L7 are lossy by default, the rest lossless."""

    INVENTORY = "inventory"
    EVENTS = "events"
    LOGS = "logs"
    FLOWS = "flows"
    L7 = "l7"
    OPERATOR_STATS = "operator_stats"
    METRICS_ANSWERS = "metrics_answers"


class CloudCommandKind(enum.Enum):
    """The request types the cloud can send (one per ``Command.request`` oneof member)."""

    K8S_REQUEST = "k8s_request"
    CILIUM_REQUEST = "cilium_request"
    SHELL = "shell"
    YAML_DRY_RUN = "yaml_dry_run"
    YAML_APPLY = "yaml_apply"
    METRICS_QUERY = "metrics_query"
    LOG_TAIL = "log_tail"


class CloudCommandStatus(enum.Enum):
    """Outcome of a command, as reported in ``CommandResult.status``."""

    OK = "ok"
    FAILED = "failed"
    REJECTED = "rejected"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    UNSUPPORTED = "unsupported"


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class UplinkStreamOpened:
    """Adapter → core: a new stream (``epoch``) is open and its Hello was queued."""

    epoch: int


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class UplinkStreamClosed:
    """Adapter → core: stream ``epoch`` ended; ``code`` is the gRPC status name."""

    epoch: int
    code: str
    reason: str


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CloudSessionWelcomed:
    """Cloud → core: the session is accepted; resend every reliable item after the sequence."""

    epoch: int
    session_id: str
    last_acked_sequence: int
    heartbeat_interval_ms: int


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CloudBatchesAcked:
    """Cloud → core: cumulative ack of both sequence spaces."""

    epoch: int
    through_sequence: int
    lossy_through_sequence: int


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CloudHeartbeatReceived:
    """Cloud → core: the cloud is alive (its clock, in Unix milliseconds)."""

    epoch: int
    unix_ms: int


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class CloudCommandReceived:
    """Cloud → core: a command as decoded from the wire (arguments: msgpack mapping)."""

    epoch: int
    request_id: str
    kind: CloudCommandKind
    deadline_unix_ms: int
    arguments: bytes

    def __repr__(self) -> str:
        return f"CloudCommandReceived({self.request_id},{self.kind.value})"

    __str__ = __repr__


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class CloudCommandIssued:
    """Uplink → owner component: run this command and answer ``CloudCommandAnswered``."""

    request_id: str
    kind: CloudCommandKind
    deadline_unix_ms: int
    arguments: bytes

    def __repr__(self) -> str:
        return f"CloudCommandIssued({self.request_id},{self.kind.value})"

    __str__ = __repr__


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class CloudCommandAnswered:
    """Owner component → uplink: the result of ``request_id``."""

    request_id: str
    status: CloudCommandStatus
    error: str
    payload: bytes
    truncated: bool

    def __repr__(self) -> str:
        return (f"CloudCommandAnswered({self.request_id},{self.status.value},"
                f"{len(self.payload)}B)")

    __str__ = __repr__
