"""Shared helpers for the sim.kubeapi unit tests (no sockets: handlers run on fake sinks)."""

from __future__ import annotations

import json
from typing import Any

from sim.kubeapi import faults, routing, watching
from sim.kubeapi.store import ObjectStore

FIXED_NOW = 1_790_000_000.0


class FixedClock:
    """A settable clock for the store, logs and churn."""

    def __init__(self, now: float = FIXED_NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class RecordingSink:
    """Collects what a watch or log stream writes."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.data += data

    def client_gone(self) -> bool:
        return False

    def abort(self) -> None:
        self.aborted = True

    def lines(self) -> list[bytes]:
        return [line for line in bytes(self.data).splitlines() if line.strip()]

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in bytes(self.data).splitlines() if line.strip()]


def route(method: str, path: str, **params: str) -> routing.Route:
    found = routing.parse_resource_path(method, path, params)
    assert found is not None
    return found


def watch_once(store: ObjectStore, path: str, **params: str) -> list[dict[str, Any]]:
    """Run a watch that ends after replaying what is already in the history window."""
    return [json.loads(line) for line in watch_lines(store, path, **params)]


def watch_lines(store: ObjectStore, path: str, **params: str) -> list[bytes]:
    """Like :func:`watch_once`, but the raw JSON lines (cheap to compare)."""
    params = {"watch": "true", **params}
    options = watching.parse_options(params, None)
    options = watching.WatchOptions(options.start_rv, options.initial_events_bookmark,
                                    options.bookmarks, 0.0, options.table,
                                    options.include_object, options.skip_initial_state)
    sink = RecordingSink()
    watching.Watch(store, route("GET", path, **params), params, options,
                   bookmark_interval_s=60.0, stream=faults.OpenStream("watch", path),
                   stopping=lambda: False).run(sink)
    return sink.lines()
