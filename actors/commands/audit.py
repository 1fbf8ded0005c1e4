"""Audit trail of every command request, accepted or refused: JSON lines plus counters.

Each ``record`` appends one JSON object per line to the audit file (rotated by size into
``<path>.1`` … ``<path>.<backups>``) and bumps the counters that ``/status`` shows: accepted,
refused, and refusals by reason code. Values are sanitised before they are written: strings are
cut to a bounded length, bearer tokens are masked, and any field whose name suggests a credential
is replaced. A failing disk never fails a command: the write error is counted and logged once
per distinct error text. Thread-safe (one lock), because executor workers record concurrently.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["AuditLog"]

logger = logging.getLogger(__name__)

_MAX_STRING = 512
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+")
_CREDENTIAL_KEY = re.compile(r"(?i)(token|secret|password|passwd|authorization|api_?key|cookie)")


class AuditLog:
    """Appends sanitised JSON lines and keeps accepted/refused counters."""

    def __init__(self, *, path: str = "", max_bytes: int = 10 << 20, backups: int = 3,
                 clock: Callable[[], float] = time.time) -> None:
        self._path = path
        self._max_bytes = max_bytes
        self._backups = backups
        self._clock = clock
        self._lock = threading.Lock()
        self._accepted: collections.Counter[str] = collections.Counter()
        self._refused: collections.Counter[str] = collections.Counter()
        self._write_errors = 0
        self._logged_errors: set[str] = set()

    def record(self, *, tool: str, request_id: str, accepted: bool, code: str,
               detail: Mapping[str, Any] | None = None) -> None:
        """Count and (when a path is set) write one audit entry. Never raises."""
        entry = {"ts": round(self._clock(), 3), "tool": tool, "request_id": request_id[:128],
                 "decision": "accepted" if accepted else "refused", "code": code,
                 **_sanitise_mapping(detail or {})}
        line = json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n"
        with self._lock:
            (self._accepted if accepted else self._refused)[tool if accepted else code] += 1
            if self._path:
                self._write(line.encode("utf-8"))

    def snapshot(self) -> dict[str, Any]:
        """Counters for /status: totals, refusals by reason, accepted by tool, write errors."""
        with self._lock:
            return {"accepted": sum(self._accepted.values()),
                    "refused": sum(self._refused.values()),
                    "accepted_by_tool": dict(self._accepted),
                    "refused_by_reason": dict(self._refused),
                    "write_errors": self._write_errors}

    def _write(self, data: bytes) -> None:
        try:
            try:
                size = os.path.getsize(self._path)
            except FileNotFoundError:
                size = 0
            if size and size + len(data) > self._max_bytes:
                self._rotate()
            fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        except OSError as exc:
            self._write_errors += 1
            text = f"{type(exc).__name__}: {exc.strerror}"
            if text not in self._logged_errors and len(self._logged_errors) < 32:
                self._logged_errors.add(text)
                logger.warning("audit log %s not written: %s", self._path, text)

    def _rotate(self) -> None:
        if self._backups == 0:
            os.truncate(self._path, 0)
            return
        for index in range(self._backups - 1, 0, -1):
            older = f"{self._path}.{index}"
            if os.path.exists(older):
                os.replace(older, f"{self._path}.{index + 1}")
        os.replace(self._path, f"{self._path}.1")


def _sanitise_mapping(detail: Mapping[str, Any]) -> dict[str, Any]:
    return {str(key)[:64]: _sanitise(str(key), value) for key, value in list(detail.items())[:32]}


def _sanitise(key: str, value: Any) -> Any:
    if _CREDENTIAL_KEY.search(key):
        return "<redacted>"
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    if isinstance(value, Mapping):
        return _sanitise_mapping(value)
    if isinstance(value, (list, tuple)):
        return [_sanitise("", item) for item in value[:32]]
    text = str(value)
    text = _JWT.sub("<redacted-jwt>", _BEARER.sub(r"\1<redacted>", text))
    if len(text) > _MAX_STRING:
        text = text[:_MAX_STRING] + f"...(+{len(text) - _MAX_STRING} chars)"
    return text
