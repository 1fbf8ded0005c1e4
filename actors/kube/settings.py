"""Settings of Kubernetes ingestion: which kinds to watch and every bound the logic enforces.

``KubeSettings`` is a frozen dataclass with defaults that fit a mid-sized cluster.
``problems()`` yields ``(key, message)`` pairs for every invalid field instead of raising at the
first one, so startup can report them all with their paths.

``COMPONENT_TYPES`` registers ``kube_watcher`` and ``pod_logs`` with the runtime: their topology
keys (the chart renders ``not_ready_threshold``, ``capture_lines``, ``capture_max_bytes`` and
``stream_namespace_label``; everything else, ``max_streams`` included, has a default) and
``kube_settings(type, raw)``, which merges defaults (topologies built in code skip validation)
and maps the keys onto ``KubeSettings``; a bad value raises ``ValueError`` naming the key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

from actors.runtime.settings_schema import ComponentType, Kind, Setting, parse_duration

__all__ = ["ALL_RESOURCES", "COMPONENT_TYPES", "KubeSettings", "component_settings",
           "kube_settings", "kube_settings_problems"]

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


_SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def _positive_duration(name: str, default: float, doc: str) -> Setting:
    return Setting(name=name, kind=Kind.DURATION, default=default, minimum=0,
                   exclusive_minimum=True, doc=doc)


_CONNECTION = (
    Setting(name="api_url", kind=Kind.ANY, default="",
            doc="API server URL (string); empty = in-cluster (KUBERNETES_SERVICE_HOST/PORT, "
                "service-account token and CA)"),
    Setting(name="token_file", kind=Kind.STR, default=f"{_SA_DIR}/token",
            doc="bearer token file, re-read on every request (projected tokens rotate)"),
    Setting(name="ca_file", kind=Kind.STR, default=f"{_SA_DIR}/ca.crt",
            doc="CA bundle of an https API server"),
    _positive_duration("request_timeout", 30.0, "connect/read timeout of one API request"),
)

_WATCHER = ComponentType(
    name="kube_watcher", actor_class="actors.kube.watcher_actor.ResourceWatcher",
    doc="list+watch of every inventoried kind: inventory, incidents, pod index, log captures",
    settings=(
        *_CONNECTION,
        Setting(name="resources", kind=Kind.STR_LIST, default=ALL_RESOURCES,
                doc="API resources to list+watch; absent (404) or forbidden (403) ones are "
                    "skipped and re-checked every `absent_recheck`"),
        Setting(name="page_size", kind=Kind.INT, default=500, minimum=1, maximum=10_000,
                doc="LIST page size (limit)"),
        _positive_duration("watch_timeout", 300.0, "timeoutSeconds of one watch request"),
        Setting(name="bookmarks", kind=Kind.BOOL, default=True,
                doc="ask for watch bookmarks (cheap resumes, fewer 410s)"),
        _positive_duration("backoff_min", 0.5, "first retry delay after a failed request"),
        _positive_duration("backoff_max", 60.0, "cap of the retry delay"),
        _positive_duration("absent_recheck", 300.0,
                           "how often a 404/403 resource is tried again"),
        _positive_duration("not_ready_threshold", 120.0,
                           "a pod Ready=False this long is an incident"),
        _positive_duration("stale_after", 600.0,
                           "on first sight, terminations/events older than this are history"),
        _positive_duration("rollout_deadline", 600.0,
                           "deadline of StatefulSet/DaemonSet rollouts"),
        _positive_duration("degraded_threshold", 300.0,
                           "settled workload with unavailable replicas this long: Degraded"),
        _positive_duration("monitor_interval", 5.0, "how often time-based incident rules run"),
        Setting(name="event_memory", kind=Kind.INT, default=50_000, minimum=1,
                doc="Warning-event uids remembered for de-duplication"),
        Setting(name="inventory_batch_records", kind=Kind.INT, default=500, minimum=1,
                maximum=10_000, doc="inventory records per emitted batch"),
        Setting(name="max_pending_signals", kind=Kind.INT, default=10_000, minimum=1,
                doc="incident signals buffered while the uplink has no credit (oldest "
                    "dropped and counted beyond)"),
        Setting(name="istio_root_namespace", kind=Kind.STR, default="istio-system",
                doc="AuthorizationPolicies here apply mesh-wide"),
    ),
    check=lambda raw: kube_settings_problems("kube_watcher", raw))

_POD_LOGS = ComponentType(
    name="pod_logs", actor_class="actors.kube.pod_logs_actor.PodLogCapture",
    doc="pod-log captures on incidents and log_tail commands, on a bounded worker pool",
    settings=(
        *_CONNECTION,
        Setting(name="capture_lines", kind=Kind.INT, default=200, minimum=1, maximum=100_000,
                doc="tail lines of an incident capture (previous and current container)"),
        Setting(name="capture_max_bytes", kind=Kind.INT, default=256 * 1024, minimum=1,
                maximum=8 * 1024 * 1024, doc="byte cap of one capture or tail"),
        Setting(name="stream_namespace_label", kind=Kind.ANY, default="",
                doc="namespaces labelled <label>=true opt in to continuous log streaming "
                    "(string; empty = none)"),
        Setting(name="max_streams", kind=Kind.INT, default=20, minimum=1, maximum=1_000,
                doc="cap of concurrent follow=true log streams (opted-in namespaces only)"),
        Setting(name="concurrency", kind=Kind.INT, default=2, minimum=1, maximum=16,
                doc="log GETs in flight (worker threads)"),
        Setting(name="queue", kind=Kind.INT, default=200, minimum=1, maximum=10_000,
                doc="captures waiting for a worker (overflow dropped and counted)"),
        Setting(name="max_pending_tails", kind=Kind.INT, default=64, minimum=1,
                maximum=10_000, doc="log_tail commands waiting (more are answered rejected)"),
        _positive_duration("cooldown", 600.0, "one capture per pod container per cooldown"),
        _positive_duration("tail_timeout", 30.0,
                           "deadline of a log_tail command that carries none"),
    ),
    check=lambda raw: kube_settings_problems("pod_logs", raw))

COMPONENT_TYPES: tuple[ComponentType, ...] = (_WATCHER, _POD_LOGS)
_BY_NAME = {component_type.name: component_type for component_type in COMPONENT_TYPES}


def component_settings(type_name: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """``raw`` over the type's defaults, durations as float seconds; ValueError on a bad one."""
    component_type = _BY_NAME[type_name]
    merged = {**component_type.defaults(), **dict(raw)}
    for field in component_type.settings:
        if field.kind is Kind.DURATION:
            seconds = parse_duration(merged[field.name])
            if seconds is None or seconds <= 0:
                raise ValueError(f"setting {field.name!r} must be a positive duration, "
                                 f"got {merged[field.name]!r}")
            merged[field.name] = seconds
    return merged


def kube_settings(type_name: str, raw: Mapping[str, Any]) -> KubeSettings:
    """The logic's ``KubeSettings`` for one component's settings (defaults merged)."""
    values = component_settings(type_name, raw)
    if type_name == "kube_watcher":
        return KubeSettings(
            resources=tuple(values["resources"]), page_size=values["page_size"],
            watch_timeout_s=max(1, int(values["watch_timeout"])),
            bookmarks=bool(values["bookmarks"]), backoff_min_s=values["backoff_min"],
            backoff_max_s=values["backoff_max"],
            not_ready_threshold_s=values["not_ready_threshold"],
            stale_after_s=values["stale_after"], rollout_deadline_s=values["rollout_deadline"],
            degraded_threshold_s=values["degraded_threshold"],
            event_memory=values["event_memory"],
            istio_root_namespace=values["istio_root_namespace"])
    label, defaults = values["stream_namespace_label"], KubeSettings()
    return KubeSettings(
        log_tail_lines=values["capture_lines"], log_limit_bytes=values["capture_max_bytes"],
        log_capture_concurrency=values["concurrency"], log_capture_queue=values["queue"],
        log_stream_namespace_label=label or defaults.log_stream_namespace_label,
        log_stream_max_streams=int(values["max_streams"]) if label else 0)


def kube_settings_problems(type_name: str, raw: Mapping[str, Any]
                           ) -> Iterator[tuple[str, str]]:
    """Cross-field problems of validated settings, as (key, message) pairs."""
    for key in ("api_url", "stream_namespace_label"):
        if key in raw and not isinstance(raw[key], str):
            yield key, f"must be a string, got {raw[key]!r}"
            return
    try:
        settings = kube_settings(type_name, raw)
    except (ValueError, TypeError) as error:
        yield "", str(error)
        return
    # the per-key schema already checked ranges; these are the cross-field rules
    for key, message in settings.problems():
        if key == "resources":
            yield key, message
        elif key == "backoff_max_s":
            yield "backoff_max", message
