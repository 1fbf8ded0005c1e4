"""OTLP attribute values as strings, and the cache of series identities across requests.

Owns how an ``AnyValue`` becomes a label string (strings as is, ints in decimal, bools
``true``/``false``, doubles by ``repr``, bytes as hex, arrays and kvlists as compact sorted JSON)
and ``SeriesCache``. Works on duck-typed opentelemetry-proto messages; never raises for any
value type (an unset value is ``""``).
"""

from __future__ import annotations

import json
from typing import Any

from actors.metrics.series import MetricKind, ResourceContext, SeriesIdentity, SeriesMeta

__all__ = ["SeriesCache", "SeriesKey", "any_to_str", "attribute_key"]

SeriesKey = tuple[str, MetricKind, tuple[tuple[str, str], ...]]   # metric, kind, point attrs


def any_to_str(value: Any) -> str:
    which = value.WhichOneof("value")
    if which == "string_value":
        return str(value.string_value)
    if which == "int_value":
        return str(value.int_value)
    if which == "bool_value":
        return "true" if value.bool_value else "false"
    if which == "double_value":
        return repr(float(value.double_value))
    if which == "bytes_value":
        return bytes(value.bytes_value).hex()
    if which in ("array_value", "kvlist_value"):
        return json.dumps(_any_to_json(value), separators=(",", ":"), sort_keys=True)
    return ""


def _any_to_json(value: Any) -> Any:
    which = value.WhichOneof("value")
    if which == "array_value":
        return [_any_to_json(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _any_to_json(kv.value) for kv in value.kvlist_value.values}
    if which == "int_value":
        return int(value.int_value)
    if which == "double_value":
        return float(value.double_value)
    if which == "bool_value":
        return bool(value.bool_value)
    return any_to_str(value)


def attribute_key(attributes: Any) -> tuple[tuple[str, str], ...]:
    return tuple([(kv.key, kv.value.string_value or any_to_str(kv.value))
                  for kv in attributes])


class SeriesCache:
    """Identities seen in earlier requests: resource context → {(metric, kind, point attribute
    key) → SeriesIdentity}. Steady exporters resend the same series every interval, so a hit
    skips label merging, sorting and identity building. One dict per resource (not per
    resource and metric: ~240 instead of ~600 bytes a series), strings interned and label
    tuples and metadata shared. Bounded: cleared when it grows past ``max_entries`` (checked
    between requests). Safe to share between receiver threads."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self.entries = 0
        self._groups: dict[ResourceContext, dict[SeriesKey, SeriesIdentity]] = {}
        self.contexts: dict[bytes, ResourceContext] = {}   # serialized Resource → context
        self._label_sets: dict[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]] = {}
        self._metas: dict[SeriesMeta, SeriesMeta] = {}

    def label_set(self, labels: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        """The shared copy of an (interned-string) label tuple: series of many pods with the
        same labels hold one tuple instead of one each."""
        return self._label_sets.setdefault(labels, labels)

    def meta(self, meta: SeriesMeta) -> SeriesMeta:
        """The shared copy of an equal ``SeriesMeta`` (one is built per metric per request;
        templates and the frame encoder keep them for every series of a layout)."""
        return self._metas.setdefault(meta, meta)

    def group(self, context: ResourceContext) -> dict[SeriesKey, SeriesIdentity]:
        """The (metric, kind, attribute key) → identity map of one resource."""
        found = self._groups.get(context)
        if found is None:
            found = self._groups[context] = {}
        return found

    def trim(self) -> None:
        """Forget everything once over the bound (a new request then rebuilds what it needs)."""
        if self.entries > self.max_entries or len(self.contexts) > self.max_entries:
            self._groups = {}
            self.contexts = {}
            self._label_sets = {}
            self._metas = {}
            self.entries = 0
