"""OTLP attribute values as strings, the cache of series identities across requests, and the
admission rule of the receiver's caches.

Owns how an ``AnyValue`` becomes a label string (strings as is, ints in decimal, bools
``true``/``false``, doubles by ``repr``, bytes as hex, arrays and kvlists as compact sorted JSON),
``SeriesCache``, and ``ReuseGate`` (admission by reuse distance, so a working set larger than a
cache's budget is refused instead of thrashed; the wire template caches use it too). Works on
duck-typed opentelemetry-proto messages; never raises for any value type (an unset value is
``""``); a cache that cannot help simply holds nothing.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import threading
from collections.abc import Callable
from typing import Any

from actors.metrics.series import MetricKind, ResourceContext, SeriesIdentity, SeriesMeta

__all__ = ["ResourceSeries", "ReuseGate", "SeriesCache", "SeriesKey", "any_to_str",
           "attribute_key"]

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


class ReuseGate:
    """Admission by reuse distance, the rule every bounded cache of the receiver follows.

    Each reference of a key advances ``clock`` by the size its entry holds (or would hold);
    a key's distance is the clock advanced since its previous reference, itself included. An
    LRU cache of ``budget`` still holds an entry at a reference only if that distance fits, so
    a cache admits a miss only then (the first sighting has no distance: callers decide), and
    an entry whose last use is more than a budget back can no longer hit before such an LRU
    would drop it: ``stale``, to be released. A cyclic working set larger than the budget is
    thus refused outright instead of cycled through the cache (evicted before any use); a
    workload that fits again is admitted as soon as its keys repeat within the budget. Exact
    for keys referenced once a cycle (exporters); when keys repeat at uneven rates the distance
    is over-estimated, which errs on refusing. Remembers the clocks of the last ``remember``
    keys (callers pass hashes); a forgotten key is a first sighting again. Not thread-safe.
    """

    def __init__(self, budget: int, remember: int = 8192) -> None:
        self.budget = max(1, budget)
        self.remember = remember
        self.clock = 0
        self._last: dict[int, int] = {}      # key → clock after its last reference, oldest first

    def see(self, key: int, size: int) -> int | None:
        """Record a reference of ``key`` (``size`` units): its distance, None when first seen."""
        self.clock += max(1, size)
        previous = self._last.pop(key, None)
        self._last[key] = self.clock
        if len(self._last) > self.remember:
            for old in list(itertools.islice(self._last, len(self._last) // 4)):
                del self._last[old]
        return None if previous is None else self.clock - previous

    def fits(self, distance: int | None) -> bool:
        return distance is not None and distance <= self.budget

    def stale(self, stamp: int, size: int) -> bool:
        """An entry of ``size`` last used at clock ``stamp`` is past an LRU's reach."""
        return self.clock - stamp + size > self.budget


@dataclasses.dataclass(slots=True, eq=False)
class ResourceSeries:
    """One resource's context and its series identities, cached or for one request only."""

    raw: bytes                          # the serialized Resource
    context: ResourceContext
    group: dict[SeriesKey, SeriesIdentity] = dataclasses.field(default_factory=dict)
    size: int = 0                       # series counted in ``entries`` (when cached)
    hits: int = 0
    stamp: int = 0
    cached: bool = False


class SeriesCache:
    """Identities seen in earlier requests: serialized Resource → its context and {(metric,
    kind, point attribute key) → SeriesIdentity}. Steady exporters resend the same series every
    interval, so a hit skips attribute parsing, label merging and identity building. Strings
    are interned and label tuples and metadata shared (~240 bytes a series).

    Bounded by ``max_entries`` series, deterministically: resources are kept in LRU order and
    admitted by reuse distance in series (``ReuseGate``), so a cyclic set of series larger than
    the bound is not cached at all (``refused_thrash``) instead of filled and cleared over and
    over. A resource seen for the first time is admitted unless entries were released unused
    lately (then only after a pause, doubled while that keeps happening right after pauses);
    one seen again is admitted when its distance fits, pause or not. A resource not kept
    still has its identities shared within its request. Safe to share between receiver threads.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self.entries = 0
        self.gate = ReuseGate(max_entries)
        self.counters = {"hits": 0, "refused_thrash": 0, "released": 0, "released_unused": 0}
        self._resources: dict[bytes, ResourceSeries] = {}   # least recently used first
        self._label_sets: dict[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]] = {}
        self._metas: dict[SeriesMeta, SeriesMeta] = {}
        self._quiet_until = 0               # clock before which first sightings stay out
        self._pause = 0
        self._lock = threading.Lock()

    def label_set(self, labels: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        """The shared copy of an (interned-string) label tuple: series of many pods with the
        same labels hold one tuple instead of one each."""
        return self._label_sets.setdefault(labels, labels)

    def meta(self, meta: SeriesMeta) -> SeriesMeta:
        """The shared copy of an equal ``SeriesMeta`` (one is built per metric per request;
        templates and the frame encoder keep them for every series of a layout)."""
        return self._metas.setdefault(meta, meta)

    def resource(self, raw: bytes, context: Callable[[], ResourceContext]) -> ResourceSeries:
        """The cached series of the resource serialized as ``raw``, or a new entry (``context``
        builds its context); hand it back to ``settle`` once its points are read."""
        with self._lock:
            found = self._resources.pop(raw, None)
            if found is not None:
                self._resources[raw] = found          # most recently used
                found.hits += 1
                self.counters["hits"] += 1
                return found
        return ResourceSeries(raw, context())

    def settle(self, entry: ResourceSeries) -> None:
        """Count ``entry``'s series; keep a new one when its reuse distance fits the bound."""
        with self._lock:
            size = len(entry.group)
            distance = self.gate.see(hash(entry.raw), size)
            if entry.cached:
                self.entries += size - entry.size
            elif size <= self.max_entries and (self.gate.fits(distance) or (
                    distance is None and self.gate.clock >= self._quiet_until)):
                entry.cached = True
                self._resources[entry.raw] = entry
                self.entries += size
            else:
                self.counters["refused_thrash"] += 1
            entry.size, entry.stamp = size, self.gate.clock
            self._release()

    def _release(self) -> None:
        while self._resources:
            oldest = next(iter(self._resources.values()))
            if self.entries <= self.max_entries and \
                    not self.gate.stale(oldest.stamp, oldest.size):
                return
            del self._resources[oldest.raw]
            oldest.cached = False
            self.entries -= oldest.size
            self.counters["released"] += 1
            if oldest.hits == 0:                # cached for nothing: pause first sightings
                self.counters["released_unused"] += 1
                clock = self.gate.clock
                if clock >= self._quiet_until:     # again after a pause, or after calm
                    calm = clock - self._quiet_until > self._pause * self.max_entries
                    self._pause = 1 if calm or not self._pause else min(2 * self._pause, 64)
                self._quiet_until = clock + self._pause * self.max_entries

    def trim(self) -> None:
        """Bound the shared label tuples and metadata too (checked between requests)."""
        if len(self._label_sets) > self.max_entries or len(self._metas) > self.max_entries:
            self._label_sets = {}
            self._metas = {}
