"""What the MetricsRing actor does with ``command`` and ``pod_index`` records (plain logic).

Owns the translation of a ``command`` record ``{request_id, deadline_unix, kind, args}`` of kind
``metrics_query`` into ``MetricsQueryRequested`` and of its answer into exactly one
``command_result`` record ``{request_id, status, error, payload, truncated}``. ``args`` may use
the field names of ``MetricsQueryRequested`` or those of the cloud protocol's ``MetricsQuery``
(``start_unix_ms``, ``end_unix_ms``, ``max_data_points``, matchers as ``{name, value[, op]}``).
Every problem is an answer, never an exception: unknown kind → ``unsupported``, bad arguments
or a refused query → ``failed`` with the reason, a passed deadline → ``deadline_exceeded``; a
record without a usable request id cannot be answered and is only counted. ``payload`` is the
query's msgpack series list when ``ok``, else msgpack ``{"error": ...}``. Also applies
``pod_index`` records ``{op: UPSERT|DELETE, namespace, pod, uid, workload_kind,
workload_name}`` to the store's pod→workload resolver (bad records are counted).
"""

from __future__ import annotations

import collections
import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import msgpack

from actors.metrics.k8s_context import StaticPodWorkloadResolver
from messages.metrics import MetricsQueryAnswered, MetricsQueryRequested

__all__ = ["METRICS_QUERY", "QueryArgsError", "RingRequests", "query_from_args",
           "result_record"]

logger = logging.getLogger(__name__)

METRICS_QUERY = "metrics_query"
OK, FAILED, DEADLINE_EXCEEDED, UNSUPPORTED = "ok", "failed", "deadline_exceeded", "unsupported"

_STR = ("namespace", "workload_kind", "workload_name", "pod_name", "pod_name_prefix",
        "function", "aggregation")
_INT = ("start_ns", "end_ns", "step_ns", "max_series", "max_points")
_MS = {"start_unix_ms": "start_ns", "end_unix_ms": "end_ns"}
_ALIASES = {"max_data_points": "max_points"}
_KNOWN = set(_STR) | set(_INT) | set(_MS) | set(_ALIASES) | {
    "metric_names", "label_matchers", "by", "quantile"}


class QueryArgsError(ValueError):
    """The ``args`` of a ``metrics_query`` command do not describe a query."""


def _matcher(raw: Any) -> tuple[str, str, str]:
    if isinstance(raw, Mapping):
        raw = (raw.get("name", raw.get("label")), raw.get("op", "="), raw.get("value", ""))
    if not isinstance(raw, list | tuple) or len(raw) != 3 or \
            not all(isinstance(part, str) for part in raw):
        raise QueryArgsError(f"label matcher {raw!r} must be [label, op, value] or "
                             "{name, value, op}")
    return raw[0], raw[1], raw[2]


def _strings(name: str, raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list | tuple) or not all(isinstance(s, str) for s in raw):
        raise QueryArgsError(f"{name} must be a list of strings, got {raw!r}")
    return tuple(raw)


def query_from_args(request_id: str, args: Any) -> MetricsQueryRequested:
    """``MetricsQueryRequested`` from command ``args``; QueryArgsError naming every problem."""
    if not isinstance(args, Mapping):
        raise QueryArgsError(f"args must be a mapping, got {type(args).__name__}")
    unknown = sorted(str(key) for key in args if key not in _KNOWN)
    if unknown:
        raise QueryArgsError(f"unknown argument(s): {', '.join(unknown)}")
    fields: dict[str, Any] = {}
    problems = []
    for key, value in args.items():
        target = _MS.get(key) or _ALIASES.get(key) or key
        try:
            if key in _STR:
                if not isinstance(value, str):
                    raise QueryArgsError(f"{key} must be a string, got {value!r}")
                fields[target] = value
            elif key in _INT or key in _MS or key in _ALIASES:
                if isinstance(value, bool) or not isinstance(value, int):
                    raise QueryArgsError(f"{key} must be an integer, got {value!r}")
                fields[target] = value * 1_000_000 if key in _MS else value
            elif key == "quantile":
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise QueryArgsError(f"quantile must be a number, got {value!r}")
                fields[key] = float(value)
            elif key == "label_matchers":
                if not isinstance(value, list | tuple):
                    raise QueryArgsError(f"label_matchers must be a list, got {value!r}")
                fields[key] = tuple(_matcher(m) for m in value)
            else:
                fields[key] = _strings(key, value)
        except QueryArgsError as problem:
            problems.append(str(problem))
    if problems:
        raise QueryArgsError("; ".join(problems))
    return MetricsQueryRequested(request_id=request_id, **fields)


def result_record(request_id: str, status: str, error: str = "", payload: bytes | None = None,
                  truncated: bool = False) -> dict[str, Any]:
    """A ``command_result`` record; a non-ok answer carries ``{"error": ...}`` as payload."""
    if payload is None:
        payload = bytes(msgpack.packb({"error": error} if error else {}, use_bin_type=True))
    return {"request_id": request_id, "status": status, "error": error, "payload": payload,
            "truncated": truncated}


@dataclasses.dataclass
class RingRequests:
    """Answers command records with ``answer`` and feeds pod_index records to ``resolver``."""

    answer: Callable[[MetricsQueryRequested], MetricsQueryAnswered]
    resolver: StaticPodWorkloadResolver
    wall_clock: Callable[[], float]
    counters: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)

    def commands(self, records: Iterable[Any]) -> list[dict[str, Any]]:
        """One result record per answerable command record, in order."""
        results = []
        for record in records:
            result = self._one(record)
            if result is None:
                self.counters["commands_unanswerable_total"] += 1
            else:
                results.append(result)
                self.counters[f"commands_{result['status']}_total"] += 1
        return results

    def _one(self, record: Any) -> dict[str, Any] | None:
        if not isinstance(record, Mapping):
            return None
        request_id = record.get("request_id")
        if not isinstance(request_id, str) or not request_id:
            return None
        kind = record.get("kind")
        if kind != METRICS_QUERY:
            return result_record(request_id, UNSUPPORTED,
                                 f"metrics_ring answers only {METRICS_QUERY}, not {kind!r}")
        deadline = record.get("deadline_unix")
        if isinstance(deadline, int | float) and not isinstance(deadline, bool) and \
                0 < deadline <= self.wall_clock():
            return result_record(request_id, DEADLINE_EXCEEDED,
                                 "deadline passed before the query ran")
        try:
            query = query_from_args(request_id, record.get("args") or {})
        except QueryArgsError as problem:
            return result_record(request_id, FAILED, f"invalid query: {problem}")
        try:
            answered = self.answer(query)
        except Exception as exc:   # a query bug must cost one answer, never the store
            logger.exception("metrics query %s failed", request_id)
            return result_record(request_id, FAILED, f"internal error: {type(exc).__name__}")
        if answered.error_message:
            return result_record(request_id, FAILED, f"invalid query: {answered.error_message}")
        self.counters["query_series_returned_total"] += answered.total_series_returned
        return result_record(request_id, OK, "", answered.series_payload, answered.truncated)

    def pod_index(self, records: Iterable[Any]) -> None:
        """Apply UPSERT/DELETE records to the resolver; malformed ones are counted."""
        for record in records:
            if not isinstance(record, Mapping):
                self.counters["pod_index_malformed_total"] += 1
                continue
            op = str(record.get("op") or "").upper()
            namespace, pod = record.get("namespace"), record.get("pod")
            uid = record.get("uid") or ""
            if not isinstance(namespace, str) or not isinstance(pod, str) or not pod or \
                    not isinstance(uid, str) or op not in ("UPSERT", "DELETE"):
                self.counters["pod_index_malformed_total"] += 1
                continue
            if op == "DELETE":
                self.resolver.forget(namespace, pod, uid)
                self.counters["pod_index_deleted_total"] += 1
                continue
            kind, name = record.get("workload_kind"), record.get("workload_name")
            if isinstance(kind, str) and isinstance(name, str) and kind and name:
                self.resolver.register(namespace, pod, uid, kind, name)
                self.counters["pod_index_applied_total"] += 1
            else:
                self.resolver.forget(namespace, pod, uid)   # no owner known (any more)
                self.counters["pod_index_without_workload_total"] += 1
