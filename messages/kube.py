"""Messages of Kubernetes ingestion: inventory deltas, the inventory session, signals, pod logs.

Protocol (actors/kube):
- a resource watcher sends ``KubeDeltasObserved`` (msgpack deltas ``[op, kind, [kind, ns, name],
  record]``) and, once its initial list is complete, ``KubeResourceSynced``;
- the uplink announces each new cloud session with ``KubeInventorySessionOpened``; the inventory
  owner answers with ``KubeInventoryBatch`` messages (snapshot, then deltas) and exactly one
  ``KubeInventoryCommitted`` per session carrying per-kind counts;
- incident monitors send ``KubeIncidentSignals`` (msgpack signal records);
- the pod-log capture sends ``PodLogsCaptured`` (msgpack log entries) per container capture.
Bulk fields are ``bytes`` made by ``messages.codec.pack_records``; reprs stay O(1).
"""

from __future__ import annotations

import dataclasses

from messages import message

__all__ = ["KubeDeltasObserved", "KubeIncidentSignals", "KubeInventoryBatch",
           "KubeInventoryCommitted", "KubeInventorySessionOpened", "KubeResourceSynced",
           "PodLogsCaptured"]


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class KubeDeltasObserved:
    """Watcher → inventory owner: ``count`` deltas of ``resource`` packed in ``payload``."""

    resource: str
    count: int
    payload: bytes

    def __repr__(self) -> str:
        return f"KubeDeltasObserved({self.resource},n={self.count})"

    __str__ = __repr__


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class KubeResourceSynced:
    """Watcher → inventory owner: the initial list of ``resource`` (record ``kinds``) is done."""

    resource: str
    kinds: tuple[str, ...]
    resource_version: str


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class KubeInventorySessionOpened:
    """Uplink → inventory owner: a new cloud session started; send a fresh snapshot."""

    session_id: str


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class KubeInventoryBatch:
    """Inventory owner → uplink: the next ``count`` deltas (snapshot CREATEs first)."""

    session_id: str
    seq: int
    count: int
    payload: bytes

    def __repr__(self) -> str:
        return f"KubeInventoryBatch({self.session_id},#{self.seq},n={self.count})"

    __str__ = __repr__


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class KubeInventoryCommitted:
    """Inventory owner → uplink: the snapshot of ``session_id`` is complete (after ``seq``)."""

    session_id: str
    seq: int
    counts: tuple[tuple[str, int], ...]


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class KubeIncidentSignals:
    """Monitors → uplink: ``count`` incident signal records packed in ``payload``."""

    count: int
    payload: bytes

    def __repr__(self) -> str:
        return f"KubeIncidentSignals(n={self.count})"

    __str__ = __repr__


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class PodLogsCaptured:
    """Pod-log capture → uplink: entries of one container's log (``error`` set on failure)."""

    namespace: str
    pod: str
    pod_uid: str
    container: str
    previous: bool
    reason: str
    count: int
    payload: bytes
    truncated: bool
    error: str

    def __repr__(self) -> str:
        return (f"PodLogsCaptured({self.namespace}/{self.pod}/{self.container},"
                f"prev={self.previous},n={self.count})")

    __str__ = __repr__
