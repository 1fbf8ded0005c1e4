"""The metrics data model shared by the codec, the ring store and the query engine.

Owns the enums for OTLP metric kinds and temporality, the identity of one series (metric +
Kubernetes context + labels) and the descriptive metadata kept beside it. Plain frozen data: it
never fails by itself; validation happens where values enter (codec, store, query).
"""

from __future__ import annotations

import enum
from typing import NamedTuple

__all__ = [
    "FLAG_NO_RECORDED_VALUE",
    "FLAG_RESET",
    "MetricKind",
    "ResourceContext",
    "SeriesIdentity",
    "SeriesMeta",
    "Temporality",
]

FLAG_RESET = 1              # point flag: a cumulative series restarted (start time moved on)
FLAG_NO_RECORDED_VALUE = 2  # point flag: OTLP DATA_POINT_FLAGS_NO_RECORDED_VALUE (stale marker)


class MetricKind(enum.IntEnum):
    """OTLP ``Metric.data`` oneof member."""

    GAUGE = 1
    SUM = 2
    HISTOGRAM = 3
    EXPONENTIAL_HISTOGRAM = 4
    SUMMARY = 5


class Temporality(enum.IntEnum):
    """OTLP ``AggregationTemporality`` (same numbers as the wire enum)."""

    UNSPECIFIED = 0
    DELTA = 1
    CUMULATIVE = 2


class ResourceContext(NamedTuple):
    """Kubernetes context of one OTLP resource plus its remaining attributes (sorted)."""

    namespace: str = ""
    pod: str = ""
    pod_uid: str = ""
    container: str = ""
    node: str = ""
    workload_kind: str = ""
    workload_name: str = ""
    labels: tuple[tuple[str, str], ...] = ()


class SeriesIdentity(NamedTuple):
    """What makes a series unique: metric name and kind, Kubernetes context and labels.

    A NamedTuple, not a dataclass: millions are built and hashed on the ingest path, and tuple
    construction, hashing and equality run in C.
    """

    metric: str
    kind: MetricKind
    namespace: str
    pod: str
    container: str
    node: str
    workload_kind: str
    workload_name: str
    labels: tuple[tuple[str, str], ...]

    def sort_key(self) -> tuple[object, ...]:
        """Deterministic ordering used by queries."""
        return (self.metric, int(self.kind), self.namespace, self.workload_kind,
                self.workload_name, self.pod, self.container, self.node, self.labels)

    def label(self, name: str) -> str:
        """A label by name; the pseudo-labels ``namespace``, ``workload``, ``workload_kind``,
        ``pod``, ``container``, ``node`` and ``__name__`` address the context fields."""
        pseudo = _PSEUDO.get(name)
        if pseudo is not None:
            return str(getattr(self, pseudo))
        for key, value in self.labels:
            if key == name:
                return value
        return ""


_PSEUDO = {"namespace": "namespace", "workload": "workload_name",
           "workload_name": "workload_name", "workload_kind": "workload_kind", "pod": "pod",
           "container": "container", "node": "node", "__name__": "metric"}


class SeriesMeta(NamedTuple):
    """Descriptive fields of a series that do not change its identity (a NamedTuple: one is
    built per metric per request)."""

    temporality: Temporality = Temporality.UNSPECIFIED
    monotonic: bool = False
    unit: str = ""
    description: str = ""
    scope_name: str = ""
    scope_version: str = ""
    pod_uid: str = ""
