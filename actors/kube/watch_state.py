"""The list+watch state machine of one API resource (no I/O, injected clock).

``RecordView`` remembers, per object, the resourceVersion, uid and a fingerprint of its converted
record, and turns list items and watch events into deltas ``(op, kind, key, record)`` with
``key = (kind, namespace, name)``: CREATE for new, UPDATE only when the converted content changed
(a new resourceVersion alone, e.g. a node heartbeat, is not a change), DELETE once for vanished.

``WatchState`` drives the protocol: LIST pages (limit/continue) until the list is complete —
then everything known but not seen is DELETEd, so a re-list after 410 emits the exact
difference — then WATCH from the list's resourceVersion. Bookmarks only advance the resume
point. A 410 (as an ERROR event or an HTTP error) means re-list; 429 waits ``Retry-After``;
anything else backs off (``actors.runtime.backoff.Backoff``) and resumes where it was.
Malformed objects or events are counted in ``rejected`` and skipped, never raised.
"""

from __future__ import annotations

import enum
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

import msgpack

from actors.kube.converters import ConversionError, Converter, Record, ResourceSpec
from actors.kube.errors import (
    KubeApiError,
    ResourceExpiredError,
    TooManyRequestsError,
    error_from_status,
)
from actors.runtime.backoff import Backoff

__all__ = ["CREATE", "DELETE", "UPDATE", "Delta", "Phase", "RecordView", "Step", "WatchState"]

logger = logging.getLogger(__name__)

CREATE, UPDATE, DELETE = "CREATE", "UPDATE", "DELETE"
Delta = tuple[str, str, tuple[str, str, str], Record]

_packb = msgpack.Packer(use_bin_type=True, autoreset=True).pack


class RecordView:
    """Known objects of one record kind, by (namespace, name): [resourceVersion, hash, uid]."""

    def __init__(self, kind: str, convert: Converter) -> None:
        self.kind = kind
        self.convert = convert
        self.known: dict[tuple[str, str], tuple[str, int, str]] = {}

    def upsert(self, obj: dict[str, Any], ns: str, name: str, rv: str) -> Delta | None:
        known = self.known.get((ns, name))
        if known is not None and rv and known[0] == rv:
            return None
        record = self.convert(obj)
        if record is None:
            return self.remove(ns, name, rv) if known is not None else None
        fingerprint = hash(_packb(record))
        record["resource_version"] = rv
        # tuples of atomics are untracked by the cyclic GC: big known-maps stay cheap to keep
        self.known[(ns, name)] = (rv, fingerprint, record["uid"])
        if known is None:
            return (CREATE, self.kind, (self.kind, ns, name), record)
        if known[1] == fingerprint:
            return None
        return (UPDATE, self.kind, (self.kind, ns, name), record)

    def remove(self, ns: str, name: str, rv: str) -> Delta | None:
        known = self.known.pop((ns, name), None)
        if known is None:
            return None
        record = {"kind": self.kind, "namespace": ns, "name": name, "uid": known[2],
                  "resource_version": rv or known[0]}
        return (DELETE, self.kind, (self.kind, ns, name), record)


class Phase(enum.Enum):
    """Where the list+watch protocol of a resource stands."""

    LIST = "list"
    WATCH = "watch"
    WAIT = "wait"


class Step:
    """What the I/O side should do next: list a page, watch, or wait ``delay_s``."""

    __slots__ = ("continue_token", "delay_s", "field_selector", "path", "phase",
                 "resource_version")

    def __init__(self, phase: Phase, path: str = "", field_selector: str = "",
                 resource_version: str = "", continue_token: str = "",
                 delay_s: float = 0.0) -> None:
        self.phase = phase
        self.path = path
        self.field_selector = field_selector
        self.resource_version = resource_version
        self.continue_token = continue_token
        self.delay_s = delay_s

    def __repr__(self) -> str:
        return (f"Step({self.phase.value}, {self.path}, rv={self.resource_version!r}, "
                f"continue={bool(self.continue_token)}, delay={self.delay_s:.2f})")


class WatchState:
    """One resource's list+watch protocol state and its record views."""

    def __init__(self, spec: ResourceSpec, backoff: Backoff,
                 clock: Callable[[], float]) -> None:
        self.resource = spec.resource
        self.paths = spec.paths
        self.path_index = 0
        self.field_selector = spec.field_selector
        self.views = [RecordView(kind, convert) for kind, convert in spec.views]
        self.backoff = backoff
        self.clock = clock
        self.phase = Phase.LIST
        self.resume_rv = ""
        self.continue_token = ""
        self.synced = False
        self._after_wait = Phase.LIST
        self._retry_at = 0.0
        self._seen: set[tuple[str, str]] = set()
        self.observers: list[Callable[[str, dict[str, Any]], None]] = []
        """Called with (ADDED|MODIFIED|DELETED, raw object) for every object applied (list
        items count as ADDED; objects gone at a re-list as DELETED with metadata only), so
        incident monitors see the same stream without parsing it twice."""
        self.counters = {"lists": 0, "relists": 0, "pages": 0, "events": 0, "bookmarks": 0,
                         "errors": 0, "expired": 0, "throttled": 0, "rejected": 0,
                         "not_served": 0}
        self.last_problem = ""

    # -- what to do next -------------------------------------------------------------------
    def next_step(self) -> Step:
        if self.phase is Phase.WAIT:
            remaining = self._retry_at - self.clock()
            if remaining > 0:
                return Step(Phase.WAIT, delay_s=remaining)
            self.phase = self._after_wait
        path = self.paths[self.path_index]
        if self.phase is Phase.LIST:
            return Step(Phase.LIST, path, self.field_selector, continue_token=self.continue_token)
        return Step(Phase.WATCH, path, self.field_selector, resource_version=self.resume_rv)

    # -- LIST ------------------------------------------------------------------------------
    def on_list_body(self, body: bytes) -> list[Delta]:
        """One raw LIST page (``{"items": [...], "metadata": {...}}``)."""
        try:
            page = json.loads(body)
            items = page["items"] or []
            meta = page.get("metadata") or {}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            self._reject(f"malformed list page: {exc}")
            self.on_failure(KubeApiError(0, "BadList", str(exc)))
            return []
        return self.on_list_page(items, meta.get("resourceVersion") or "",
                                 meta.get("continue") or "")

    def on_list_page(self, items: Iterable[dict[str, Any]], list_rv: str,
                     continue_token: str) -> list[Delta]:
        if not self.continue_token and not self._seen:
            self.counters["lists" if not self.synced else "relists"] += 1
        self.counters["pages"] += 1
        deltas: list[Delta] = []
        seen = self._seen
        views = self.views
        for obj in items:
            try:
                meta = obj["metadata"]
                ns, name, rv = meta.get("namespace") or "", meta["name"], \
                    meta.get("resourceVersion") or ""
                seen.add((ns, name))
                for view in views:
                    delta = view.upsert(obj, ns, name, rv)
                    if delta is not None:
                        deltas.append(delta)
            except (KeyError, TypeError, AttributeError, ConversionError) as exc:
                self._reject(f"malformed {self.resource} item: {exc!r}")
                continue
            for observe in self.observers:
                observe("ADDED", obj)
        if continue_token:
            self.continue_token = continue_token
            self.phase = Phase.LIST
            return deltas
        vanished: dict[tuple[str, str], str] = {}
        for view in views:
            for ns, name in [key for key in view.known if key not in seen]:
                delta = view.remove(ns, name, "")
                if delta is not None:
                    deltas.append(delta)
                    vanished[(ns, name)] = delta[3]["uid"]
        for (ns, name), uid in vanished.items():
            gone = {"metadata": {"namespace": ns, "name": name, "uid": uid}}
            for observe in self.observers:
                observe("DELETED", gone)
        self._seen = set()
        self.continue_token = ""
        self.resume_rv = list_rv
        self.synced = True
        self.phase = Phase.WATCH
        self.backoff.healthy()
        return deltas

    # -- WATCH -----------------------------------------------------------------------------
    def on_watch_line(self, line: bytes) -> list[Delta]:
        """One line of a watch stream (``{"type": ..., "object": {...}}``)."""
        if not line.strip():
            return []
        try:
            event = json.loads(line)
        except ValueError as exc:
            self._reject(f"malformed watch line: {exc}")
            return []
        if not isinstance(event, dict):
            self._reject("watch line is not an object")
            return []
        return self.on_watch_event(event)

    def on_watch_event(self, event: dict[str, Any]) -> list[Delta]:
        kind, obj = event.get("type"), event.get("object")
        if not isinstance(obj, dict):
            self._reject(f"watch event {kind!r} without object")
            return []
        if kind == "ERROR":
            self.on_failure(error_from_status(int(obj.get("code") or 500), obj))
            return []
        try:
            meta = obj["metadata"]
            rv = meta.get("resourceVersion") or ""
            if kind == "BOOKMARK":
                self.counters["bookmarks"] += 1
                self.resume_rv = rv or self.resume_rv
                return []
            ns, name = meta.get("namespace") or "", meta["name"]
            deltas: list[Delta] = []
            for view in self.views:
                if kind in ("ADDED", "MODIFIED"):
                    delta = view.upsert(obj, ns, name, rv)
                elif kind == "DELETED":
                    delta = view.remove(ns, name, rv)
                else:
                    self._reject(f"unknown watch event type {kind!r}")
                    return []
                if delta is not None:
                    deltas.append(delta)
        except (KeyError, TypeError, AttributeError, ConversionError) as exc:
            self._reject(f"malformed {self.resource} {kind} event: {exc!r}")
            return []
        self.counters["events"] += 1
        self.resume_rv = rv or self.resume_rv
        self.backoff.healthy()
        for observe in self.observers:
            observe(str(kind), obj)
        return deltas

    def on_watch_closed(self) -> None:
        """The server ended the watch cleanly (timeoutSeconds): resume from ``resume_rv``."""
        if self.phase is Phase.WATCH and not self.resume_rv:
            self.phase = Phase.LIST

    # -- failures --------------------------------------------------------------------------
    def on_failure(self, error: BaseException) -> None:
        """A request failed or the stream broke; choose re-list, wait as told, or back off."""
        self.counters["errors"] += 1
        self.last_problem = f"{self.resource}: {error}"
        if isinstance(error, ResourceExpiredError):
            # client-go re-lists immediately on 410: the resume point (or continue token)
            # is gone, the list itself is cheap to retry.
            self.counters["expired"] += 1
            self.phase = Phase.LIST
            self.continue_token = ""
            self._seen = set()
            return
        if isinstance(error, KubeApiError) and error.code == 404 and self.phase is Phase.LIST:
            # the API version is not served (CRD missing, or only the older version, e.g.
            # security.istio.io/v1beta1): try the next path now; after the last one, back off
            self.path_index = (self.path_index + 1) % len(self.paths)
            self.continue_token = ""
            self._seen = set()
            if self.path_index != 0:
                return
            self.counters["not_served"] += 1
        resume = Phase.WATCH if self.phase is Phase.WATCH else Phase.LIST
        if self.phase is Phase.WAIT:
            resume = self._after_wait
        delay = self.backoff.next_delay()
        if isinstance(error, TooManyRequestsError):
            self.counters["throttled"] += 1
            delay = max(delay, error.retry_after_s)
        logger.warning("watch %s failed (%s); retrying in %.1fs", self.resource, error, delay)
        self._after_wait = resume
        self._retry_at = self.clock() + delay
        self.phase = Phase.WAIT

    def _reject(self, problem: str) -> None:
        self.counters["rejected"] += 1
        self.last_problem = problem
        logger.warning("%s", problem)

    def known_count(self) -> dict[str, int]:
        return {view.kind: len(view.known) for view in self.views}
