"""Settings of Kubernetes ingestion: which kinds to watch and every bound the logic enforces.

``KubeSettings`` is a frozen dataclass with defaults that fit a mid-sized cluster; the topology
file overrides fields by name. ``problems()`` yields ``(key, message)`` pairs for every invalid
field instead of raising at the first one, so startup can report them all with their paths.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

__all__ = ["ALL_RESOURCES", "KubeSettings"]

# API resources the watcher knows how to list and watch (see converters.RESOURCES).
ALL_RESOURCES = (
    "namespaces", "deployments", "statefulsets", "daemonsets", "replicasets", "jobs",
    "cronjobs", "pods", "services", "nodes", "networkpolicies", "ciliumnetworkpolicies",
    "ciliumclusterwidenetworkpolicies", "authorizationpolicies", "events",
)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class KubeSettings:
    """Bounds and switches of list+watch, incident monitors and pod-log capture."""

    resources: tuple[str, ...] = ALL_RESOURCES
    """API resources to list+watch; CRD kinds missing from the cluster are skipped."""
    page_size: int = 500
    """LIST ``limit``; kubectl uses 500 too, and a page stays well under 10 MiB."""
    watch_timeout_s: int = 300
    """``timeoutSeconds`` of one watch request; the server closes it cleanly after that."""
    bookmarks: bool = True
    """Send ``allowWatchBookmarks=true`` so resumes rarely hit 410 Expired."""
    backoff_min_s: float = 0.5
    backoff_max_s: float = 60.0
    backoff_reset_after_s: float = 120.0
    not_ready_threshold_s: float = 120.0
    """A pod Ready=False this long (by its condition's lastTransitionTime) is an incident."""
    stale_after_s: float = 600.0
    """On first sight, a container termination or Warning event older than this is history."""
    rollout_deadline_s: float = 600.0
    """Deadline for StatefulSet/DaemonSet rollouts (Deployments use progressDeadlineSeconds)."""
    degraded_threshold_s: float = 300.0
    """A settled workload with unavailable replicas this long is reported Degraded."""
    event_memory: int = 50_000
    """Warning-event uids remembered for count de-duplication (oldest forgotten first)."""
    log_tail_lines: int = 200
    log_limit_bytes: int = 256 * 1024
    log_capture_concurrency: int = 2
    log_capture_queue: int = 200
    log_stream_namespace_label: str = "kestrel.ai/stream-logs"
    """Namespaces carrying this label with value "true" get continuous log streaming."""
    log_stream_max_streams: int = 20
    istio_root_namespace: str = "istio-system"

    def problems(self) -> Iterator[tuple[str, str]]:
        """Every invalid field as (key, message)."""
        unknown = sorted(set(self.resources) - set(ALL_RESOURCES))
        if unknown:
            yield "resources", f"unknown resources {unknown}; known: {list(ALL_RESOURCES)}"
        if len(set(self.resources)) != len(self.resources):
            yield "resources", "resources are listed more than once"
        positive_ints = {
            "page_size": self.page_size, "watch_timeout_s": self.watch_timeout_s,
            "event_memory": self.event_memory, "log_tail_lines": self.log_tail_lines,
            "log_limit_bytes": self.log_limit_bytes,
            "log_capture_concurrency": self.log_capture_concurrency,
            "log_capture_queue": self.log_capture_queue,
        }
        for key, value in positive_ints.items():
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                yield key, f"must be a positive integer, got {value!r}"
        if not isinstance(self.log_stream_max_streams, int) or self.log_stream_max_streams < 0:
            yield "log_stream_max_streams", \
                f"must be an integer >= 0, got {self.log_stream_max_streams!r}"
        positive_floats = {
            "backoff_min_s": self.backoff_min_s, "backoff_max_s": self.backoff_max_s,
            "backoff_reset_after_s": self.backoff_reset_after_s,
            "not_ready_threshold_s": self.not_ready_threshold_s,
            "stale_after_s": self.stale_after_s,
            "rollout_deadline_s": self.rollout_deadline_s,
            "degraded_threshold_s": self.degraded_threshold_s,
        }
        for key, number in positive_floats.items():
            if not isinstance(number, int | float) or isinstance(number, bool) or number <= 0:
                yield key, f"must be a positive number, got {number!r}"
        if isinstance(self.backoff_min_s, int | float) and \
                isinstance(self.backoff_max_s, int | float) and \
                self.backoff_min_s > self.backoff_max_s:
            yield "backoff_max_s", "must be >= backoff_min_s"
        if self.page_size > 10_000:
            yield "page_size", "must be <= 10000 (larger pages risk multi-MiB responses)"
        if not self.log_stream_namespace_label:
            yield "log_stream_namespace_label", "must not be empty"
