"""WATCH: chunked JSON-lines event streams with history replay, bookmarks and 410 Expired.

Owns one watch from request to close. Semantics follow kube-apiserver: RV unset or ``0`` (or
``sendInitialEvents=true``) starts with synthetic ADDED events for the current state; RV=N
replays exactly the events after N from the history window, or sends one ``ERROR`` 410
``too old resource version: N (oldest)`` event and closes; objects moving in or out of a
selector appear as ADDED/DELETED; BOOKMARKs carry only ``metadata.resourceVersion`` and come
every ``bookmark_interval_s`` when ``allowWatchBookmarks=true``; ``timeoutSeconds`` ends the
stream cleanly. Fault injection can cut the stream (no terminating chunk) or expire it.
Client disconnects are noticed on the next write or poll and end the loop quietly.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Protocol

from sim.kubeapi import conversion, faults, listing, routing, selectors, status, tables
from sim.kubeapi.store import ObjectStore, StoredObject, encode

POLL_S = 0.25
DEFAULT_TIMEOUT_S = 1800.0
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


class StreamSink(Protocol):
    """The HTTP side of a streaming reply."""

    def write(self, data: bytes) -> None:
        """Send one chunk (raises OSError when the client is gone)."""

    def client_gone(self) -> bool:
        """True once the peer has closed its side."""

    def abort(self) -> None:
        """Close the connection without the terminating chunk."""


@dataclasses.dataclass(frozen=True, slots=True)
class WatchOptions:
    """Parsed and validated watch query parameters."""

    start_rv: int | None  # None: start now (with the current state first unless skipped)
    initial_events_bookmark: bool
    bookmarks: bool
    timeout_s: float
    table: bool
    include_object: str
    skip_initial_state: bool = False  # sendInitialEvents=false: only changes from now on


def parse_options(params: dict[str, str], accept: str | None) -> WatchOptions:
    raw_rv = params.get("resourceVersion", "")
    match = params.get("resourceVersionMatch", "")
    send_initial = params.get("sendInitialEvents")
    bookmarks = routing.truthy(params.get("allowWatchBookmarks"))
    if send_initial is not None:
        if match != "NotOlderThan":
            raise status.ApiError(422, "resourceVersionMatch: Forbidden: sendInitialEvents "
                                       "requires setting resourceVersionMatch to NotOlderThan")
        if not bookmarks:
            raise status.ApiError(422, "allowWatchBookmarks: Forbidden: sendInitialEvents "
                                       "requires allowWatchBookmarks=true")
    elif match:
        raise status.ApiError(422, "resourceVersionMatch: Forbidden: resourceVersionMatch is "
                                   "forbidden for watch unless sendInitialEvents is provided")
    try:
        timeout_s = float(params.get("timeoutSeconds") or DEFAULT_TIMEOUT_S)
        start = None if raw_rv in ("", "0") else int(raw_rv)
    except ValueError as error:
        raise status.bad_request(f"invalid watch parameter: {error}") from None
    initial = routing.truthy(send_initial)
    skip = send_initial is not None and not initial and start is None
    return WatchOptions(None if initial else start, initial, bookmarks, max(timeout_s, 0.0),
                        tables.wants_table(accept), params.get("includeObject", "Metadata"),
                        skip)


def _restamped(item: StoredObject, rv: int) -> StoredObject:
    obj = {**item.obj, "metadata": {**item.obj["metadata"], "resourceVersion": str(rv)}}
    return StoredObject(item.key, obj, encode(obj), rv)


class Watch:
    """One running watch; :meth:`run` blocks until the stream ends."""

    def __init__(self, store: ObjectStore, route: routing.Route, params: dict[str, str],
                 options: WatchOptions, *, bookmark_interval_s: float,
                 stream: faults.OpenStream, stopping: Callable[[], bool]) -> None:
        self.store, self.route, self.options, self.stream = store, route, options, stream
        self.filter = selectors.build_filter(params.get("labelSelector", ""),
                                             params.get("fieldSelector", ""), route.resource.key)
        self.bookmark_interval_s = bookmark_interval_s
        self.stopping = stopping
        self.kind, self.api_version = route.resource.kind, route.api_version

    def _visible(self, item: StoredObject | None) -> bool:
        if item is None or item.key != self.route.resource.storage:
            return False
        if self.route.namespace and item.namespace != self.route.namespace:
            return False
        return self.filter.empty or self.filter.matches(
            conversion.to_view(self.route.resource, item.obj))

    def _event(self, event_type: str, item: StoredObject) -> bytes:
        if self.options.table:
            view = conversion.to_view(self.route.resource, item.obj)
            body = encode(tables.table([view], self.route.resource, self.api_version,
                                       self.store.clock(), {"resourceVersion": str(item.rv)},
                                       self.options.include_object))
        else:
            body = listing.served_body(item, self.route.resource, self.api_version)
        return b'{"type":"%s","object":%s}\n' % (event_type.encode(), body)

    def _bookmark(self, rv: int, initial_end: bool = False) -> bytes:
        meta: dict[str, object] = {"resourceVersion": str(rv)}
        if initial_end:
            meta["annotations"] = {INITIAL_EVENTS_END: "true"}
        obj = {"kind": self.kind, "apiVersion": self.api_version, "metadata": meta}
        return encode({"type": "BOOKMARK", "object": obj}) + b"\n"

    @staticmethod
    def error_event(error: status.ApiError) -> bytes:
        return encode({"type": "ERROR", "object": error.status()}) + b"\n"

    def run(self, sink: StreamSink) -> str:
        """Stream until timeout/fault/stop/disconnect; returns why it ended."""
        deadline = time.monotonic() + self.options.timeout_s
        if self.options.start_rv is None and self.options.skip_initial_state:
            cursor = self.store.resource_version
        elif self.options.start_rv is None:
            cursor, items = self.store.snapshot(self.route.resource.storage)
            sink.write(b"".join(self._event("ADDED", i) for i in items if self._visible(i)))
            if self.options.initial_events_bookmark:
                sink.write(self._bookmark(cursor, initial_end=True))
        else:
            cursor = self.options.start_rv
        last_bookmark = time.monotonic()
        while True:
            try:
                events = self.store.events_after(cursor)
            except status.ApiError as error:  # fell out of the history window
                sink.write(self.error_event(error))
                return "expired"
            out = []
            for event in events:
                cursor = event.rv
                now_visible = event.type != "DELETED" and self._visible(event.item)
                was_visible = self._visible(event.previous)
                if now_visible and was_visible:
                    out.append(self._event("MODIFIED", event.item))
                elif now_visible:
                    out.append(self._event("ADDED", event.item))
                elif was_visible and event.type == "DELETED":
                    out.append(self._event("DELETED", event.item))
                elif was_visible and event.previous is not None:
                    # Moved out of the selector: upstream's cacher sends DELETED with the
                    # previous content stamped with this event's resourceVersion.
                    out.append(self._event("DELETED", _restamped(event.previous, event.rv)))
            if out:
                sink.write(b"".join(out))
            ended = self._check_end(sink, deadline, cursor)
            if ended:
                return ended
            now = time.monotonic()
            if self.options.bookmarks and now - last_bookmark >= self.bookmark_interval_s:
                sink.write(self._bookmark(cursor))
                last_bookmark = now
            if not events:
                wait = min(POLL_S, deadline - now)
                if self.options.bookmarks:
                    wait = min(wait, max(last_bookmark + self.bookmark_interval_s - now, 0.0))
                self.store.wait(cursor, max(wait, 0.0))

    def _check_end(self, sink: StreamSink, deadline: float, cursor: int) -> str:
        fault = self.stream.pending_fault
        if fault == faults.DROP:
            sink.abort()
            return "dropped"
        if fault == faults.EXPIRE:
            # What a real server sends when its watch cache drops this watcher's position.
            sink.write(self.error_event(status.too_old(cursor, cursor + 1)))
            return "expired"
        if self.stopping():
            return "stopping"
        if time.monotonic() >= deadline:
            return "timeout"
        if sink.client_gone():
            return "client-gone"
        return ""

