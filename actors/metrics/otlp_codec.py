"""OTLP metrics codec: ExportMetricsServiceRequest bytes → columnar numpy batch, plus inflation.

Owns the translation from opentelemetry-proto's generated classes (the wire here) to
``DecodedMetrics``: one row per data point in flat numpy columns (series index, time, start,
value), explicit-histogram buckets in CSR form, exponential histograms and summaries as small
per-point records; and ``OtlpDecoder``, the receiver's long-lived decoder that skips upb for
requests repeating known layouts (``wire_template``, ``segment_templates``). Per-point
problems (no value, NaN/±Inf, no timestamp, bucket counts that do not match the bounds)
reject that point only and are counted by reason; a body that is not a protobuf raises
``MalformedRequestError``. ``inflate`` refuses a gzip/deflate bomb by stopping at the size cap
instead of inflating it.
"""

from __future__ import annotations

import functools
import zlib
from typing import Any

import numpy as np
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from actors.metrics.batch_rules import finish
from actors.metrics.decoded import DecodedMetrics
from actors.metrics.k8s_context import context_from_attributes
from actors.metrics.otlp_attributes import ResourceSeries, SeriesCache, any_to_str
from actors.metrics.point_columns import PointColumnsBuilder, RawColumns
from actors.metrics.segment_templates import SegmentTemplates
from actors.metrics.series import ResourceContext
from actors.metrics.wire_template import WireTemplates, apply_columns, estimate_bytes

__all__ = ["DecodedMetrics", "MalformedRequestError", "OtlpDecoder", "PayloadTooLargeError",
           "SeriesCache", "decode_export_request", "inflate"]


class MalformedRequestError(ValueError):
    """The body is not a valid ExportMetricsServiceRequest (or not valid gzip/deflate)."""


class PayloadTooLargeError(ValueError):
    """The (decompressed) body is larger than the configured cap."""


def inflate(body: bytes, encoding: str, limit: int) -> bytes:
    """Decompress ``gzip``/``deflate`` (``identity``/``""`` pass through) up to ``limit`` bytes.

    Stops as soon as the output would exceed ``limit`` (PayloadTooLargeError), so a bomb is never
    inflated past the cap; truncated or corrupt input raises MalformedRequestError.
    """
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        if len(body) > limit:
            raise PayloadTooLargeError(f"body of {len(body)} bytes exceeds the {limit}-byte cap")
        return body
    if encoding == "gzip":
        wbits = 16 + zlib.MAX_WBITS
    elif encoding == "deflate":
        wbits = zlib.MAX_WBITS
    else:
        raise MalformedRequestError(f"unsupported content encoding {encoding!r} (gzip, deflate)")
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise MalformedRequestError(f"corrupt {encoding} body: {exc}") from exc
    if len(out) > limit:
        raise PayloadTooLargeError(f"{encoding} body inflates beyond the {limit}-byte cap")
    if not inflater.eof:
        raise MalformedRequestError(f"truncated {encoding} body")
    return out


def _resource_context(resource: Any) -> ResourceContext:
    return context_from_attributes((kv.key, kv.value.string_value or any_to_str(kv.value))
                                   for kv in resource.attributes)


def _decode_raw(body: bytes, cache: SeriesCache | None,
                marks: list[tuple[int, int, int, int]] | None = None) -> RawColumns:
    try:
        request = ExportMetricsServiceRequest.FromString(body)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise MalformedRequestError(f"not an ExportMetricsServiceRequest: {exc}") from exc
    builder = PointColumnsBuilder(cache)
    series, entries = builder.cache, dict[bytes, ResourceSeries]()
    for resource_metrics in request.resource_metrics:
        builder.mark_resource()
        resource = resource_metrics.resource
        raw_resource = resource.SerializeToString()     # one C call; attributes are static
        entry = entries.get(raw_resource)               # the same resource twice: one group
        if entry is None:
            entry = entries[raw_resource] = series.resource(
                raw_resource, functools.partial(_resource_context, resource))
        context, group = entry.context, entry.group
        for scope_metrics in resource_metrics.scope_metrics:
            scope = scope_metrics.scope
            for metric in scope_metrics.metrics:
                builder.add_metric(context, group, scope.name, scope.version, metric)
        series.settle(entry)
    builder.mark_resource()
    if marks is not None:
        marks.extend(builder.marks)
    return builder.raw()


def decode_export_request(body: bytes, cache: SeriesCache | None = None) -> DecodedMetrics:
    """Decode one ExportMetricsServiceRequest body (already decompressed) with upb.

    Raises MalformedRequestError when the bytes are not a protobuf of that type; bad points are
    counted in ``DecodedMetrics.rejected`` instead. Pass one long-lived ``SeriesCache`` per
    receiver so steady senders' series identities are reused across requests.
    """
    return finish(_decode_raw(body, cache))


class OtlpDecoder:
    """The receiver's long-lived decoder: series cache + wire templates + the upb path.

    A request that repeats a known layout is decoded from its template (``wire_template``);
    one made of known ResourceMetrics layouts in a new combination (a Collector's batches) is
    composed from per-resource templates (``segment_templates``); any other goes through upb
    and may teach templates. Both paths end in the same
    ``finish`` rules. Safe to share between receiver threads.

    Memory (issue 6: the whole operator within 400 MB with a full 100k-series store): the
    series cache keeps up to ``max_cached_series`` (50k, ~12 MB), templates up to
    ``max_template_bytes`` (16 MiB, plus half of it for per-resource templates; the 10k-point
    fixture needs ~2.2 + 2.6 MB). Every cache admits by reuse distance (``ReuseGate``): when a
    workload's layouts or series cannot fit, they are refused (``*_refused_thrash``) and
    whatever is no longer used is released, so such a workload costs neither memory nor
    template builds and decodes as with ``templates=False``.
    """

    def __init__(self, *, templates: bool = True, max_cached_series: int = 50_000,
                 max_template_bytes: int = 16 * 1024 * 1024) -> None:
        self.cache = SeriesCache(max_cached_series)
        self.templates = WireTemplates(max_template_bytes) if templates else None
        self.segments = SegmentTemplates(max_template_bytes // 2) if templates else None

    def stats(self) -> dict[str, int]:
        """Template and series cache hits, builds, refusals and releases, and the bytes held
        by templates and the series cache's entries."""
        out = {"series_cache_entries": self.cache.entries}
        out.update({f"series_cache_{k}": v for k, v in self.cache.counters.items()})
        if self.templates is not None and self.segments is not None:
            out.update({f"template_{k}": v for k, v in self.templates.counters.items()})
            out.update({f"segment_{k}": v for k, v in self.segments.counters.items()})
            out["template_bytes"] = self.templates.bytes + self.segments.bytes
        return out

    def decode(self, body: bytes) -> DecodedMetrics:
        """Decode one request body; MalformedRequestError when it is not a protobuf."""
        if self.templates is None or self.segments is None:
            return finish(_decode_raw(body, self.cache))
        hit = self.templates.match(body)
        if hit is not None:
            return finish(hit[1], shape_key=hit[0])
        composed = self.segments.compose(body)
        if composed is not None:
            layout, skeleton, columns = composed
            key = self.templates.add_composed(layout, body, skeleton, columns)
            arr = np.frombuffer(body, dtype=np.uint8)
            return finish(apply_columns(skeleton, columns, arr), shape_key=key)
        marks: list[tuple[int, int, int, int]] = []
        raw = _decode_raw(body, self.cache, marks)
        learned = self.segments.learn(body, raw, marks)   # blocks seen twice get templates
        if learned is None:
            return finish(raw)
        composed = self.segments.compose(body, use=False)
        key = 0
        if composed is None:
            self.templates.saw(learned, estimate_bytes(len(body), raw))
        else:
            key = self.templates.add_composed(learned, body, composed[1], composed[2])
        return finish(raw, shape_key=key)
