"""Messages of the metrics domain: the cloud's ``metrics_query`` and its answer.

``MetricsQueryRequested`` carries the structured query (filters, time range, function,
aggregation, limits) the MetricsRing actor answers from its ring store;
``MetricsQueryAnswered`` carries the result series as msgpack bytes (see
``actors.metrics.query.answer_payload``) plus the counts and an error text — errors are answers,
never exceptions. Both are plain data and cannot fail to construct.
"""

from __future__ import annotations

import dataclasses

from messages import message

__all__ = ["MetricsQueryAnswered", "MetricsQueryRequested"]


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class MetricsQueryRequested:
    """A metrics query. Empty / zero fields mean "no filter" or "the default".

    ``label_matchers``: (label, op, value) with op one of ``=``, ``!=``, ``=~``, ``!~`` (regexes
    are fully anchored); labels may also be ``namespace``, ``workload``, ``workload_kind``,
    ``pod``, ``container``, ``node``. ``function``: ``raw``, ``rate``, ``increase`` or
    ``quantile`` (with ``quantile`` in [0, 1]). ``aggregation``: ``none``, ``sum``, ``avg``,
    ``min`` or ``max`` across series grouped by the metric name and the ``by`` labels.
    ``start_ns``/``end_ns`` default to [now − retention, now]; ``step_ns`` > 0 aligns points to
    buckets of that width (epoch-aligned, labelled by their start).
    """

    request_id: str
    namespace: str = ""
    workload_kind: str = ""
    workload_name: str = ""
    pod_name: str = ""
    pod_name_prefix: str = ""
    metric_names: tuple[str, ...] = ()
    label_matchers: tuple[tuple[str, str, str], ...] = ()
    start_ns: int = 0
    end_ns: int = 0
    function: str = "raw"
    quantile: float = 0.0
    aggregation: str = "none"
    by: tuple[str, ...] = ()
    step_ns: int = 0
    max_series: int = 0
    max_points: int = 0


@message
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class MetricsQueryAnswered:
    """The answer to one ``MetricsQueryRequested`` (``series_payload`` is msgpack)."""

    request_id: str
    series_payload: bytes = b""
    total_series_matched: int = 0
    total_series_returned: int = 0
    truncated: bool = False
    error_message: str = ""

    def __repr__(self) -> str:
        return (f"MetricsQueryAnswered(request_id={self.request_id!r}, "
                f"series={self.total_series_returned}, bytes={len(self.series_payload)}, "
                f"error={self.error_message!r})")

    __str__ = __repr__
