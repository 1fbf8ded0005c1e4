"""Fault injection: throttling, error bursts, slow replies and broken watch streams.

Owns the faults a test arms on a running server: the next N matching requests get 429 with
``Retry-After`` or a 500/503 Status, requests get delayed, and open streams (watches, followed
logs) are dropped mid-stream without the final chunk or ended with a 410 ERROR event. Each
injected fault is counted in :attr:`FaultInjector.injected` so tests can assert it happened.
Restarts with lost history are driven by ``KubeApiServer.restart``.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
from collections.abc import Callable

from sim.kubeapi import status

DROP = "drop"
EXPIRE = "expire"


class OpenStream:
    """A streaming reply the injector can break; the stream loop polls :attr:`pending_fault`."""

    def __init__(self, kind: str, path: str) -> None:
        self.kind = kind  # "watch" or "log"
        self.path = path
        self.pending_fault: str | None = None


@dataclasses.dataclass(slots=True)
class _Armed:
    remaining: int
    match: str
    code: int
    retry_after_s: int = 0
    delay_s: float = 0.0


class FaultInjector:
    """Faults armed by tests; consulted by the HTTP layer before each request is handled."""

    def __init__(self, wake_streams: Callable[[], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._errors: list[_Armed] = []
        self._delays: list[_Armed] = []
        self._streams: set[OpenStream] = set()
        self._wake = wake_streams or (lambda: None)
        self.injected: collections.Counter[str] = collections.Counter()

    # ------------------------------------------------------------- arming
    def throttle(self, count: int = 1, *, retry_after_s: int = 1, match: str = "") -> None:
        """The next ``count`` requests whose path contains ``match`` get 429 + Retry-After."""
        with self._lock:
            self._errors.append(_Armed(count, match, 429, retry_after_s=retry_after_s))

    def fail(self, count: int = 1, *, code: int = 500, match: str = "") -> None:
        """The next ``count`` matching requests get a ``code`` (500/503...) Status."""
        if code < 500 or code > 599:
            raise ValueError(f"fail() injects 5xx errors, got {code}")
        with self._lock:
            self._errors.append(_Armed(count, match, code))

    def slow(self, delay_s: float, count: int = 1_000_000, *, match: str = "") -> None:
        """Delay the next ``count`` matching requests by ``delay_s`` before handling them."""
        with self._lock:
            self._delays.append(_Armed(count, match, 0, delay_s=delay_s))

    def drop_watches(self) -> int:
        """Cut every open watch/log stream without the terminating chunk; returns how many."""
        return self._break_streams(DROP)

    def expire_watches(self) -> int:
        """Send ``ERROR 410 Expired`` on every open watch and end it; returns how many."""
        return self._break_streams(EXPIRE, kind="watch")

    def clear(self) -> None:
        with self._lock:
            self._errors.clear()
            self._delays.clear()

    # -------------------------------------------------- used by the server
    def open_streams(self) -> int:
        with self._lock:
            return len(self._streams)

    def register(self, stream: OpenStream) -> None:
        with self._lock:
            self._streams.add(stream)

    def unregister(self, stream: OpenStream) -> None:
        with self._lock:
            self._streams.discard(stream)

    def before_request(self, path: str) -> None:
        """Sleep for armed delays, then raise the first armed error that matches ``path``."""
        delay = 0.0
        with self._lock:
            for armed in self._delays:
                if armed.remaining > 0 and armed.match in path:
                    armed.remaining -= 1
                    delay += armed.delay_s
                    self.injected["slow"] += 1
            self._delays = [a for a in self._delays if a.remaining > 0]
            error = next((a for a in self._errors if a.remaining > 0 and a.match in path), None)
            if error is not None:
                error.remaining -= 1
                self._errors = [a for a in self._errors if a.remaining > 0]
                self.injected[str(error.code)] += 1
        if delay:
            time.sleep(delay)
        if error is None:
            return
        if error.code == 429:
            raise status.ApiError(
                429, "Too many requests, please try again later.",
                details={"retryAfterSeconds": error.retry_after_s},
                headers={"Retry-After": str(error.retry_after_s)})
        message = ("the server is currently unable to handle the request"
                   if error.code == 503 else "an error on the server (\"injected fault\") has "
                   "prevented the request from succeeding")
        raise status.ApiError(error.code, message)

    def _break_streams(self, fault: str, kind: str = "") -> int:
        with self._lock:
            targets = [s for s in self._streams if not kind or s.kind == kind]
            for stream in targets:
                stream.pending_fault = fault
            self.injected[fault] += len(targets)
        self._wake()
        return len(targets)
