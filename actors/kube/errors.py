"""Typed errors of the Kubernetes API, shared by the HTTP adapter and the watch logic.

The adapter maps every non-2xx answer (a ``Status`` object, or an empty body) and every broken
connection to one of these; ``watch_state`` decides from the type alone whether to re-list
(``ResourceExpiredError``), wait as told (``TooManyRequestsError``), or back off (everything else).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

__all__ = ["ApiUnavailableError", "KubeApiError", "KubeTransportError", "ResourceExpiredError",
           "TooManyRequestsError", "error_from_status"]


class KubeApiError(Exception):
    """The API server answered with an error ``Status`` (or a bare HTTP error code)."""

    def __init__(self, code: int, reason: str, message: str, retry_after_s: float = 0.0):
        super().__init__(f"{code} {reason}: {message}")
        self.code = code
        self.reason = reason
        self.message = message
        self.retry_after_s = retry_after_s


class ResourceExpiredError(KubeApiError):
    """410 Gone/Expired: the resourceVersion or continue token is too old; re-list."""


class TooManyRequestsError(KubeApiError):
    """429: the server asked us to slow down for ``retry_after_s``."""


class ApiUnavailableError(KubeApiError):
    """5xx: the server is overloaded or restarting; retry with backoff."""


class KubeTransportError(Exception):
    """The connection failed or broke mid-response (no HTTP status to go by)."""


def error_from_status(code: int, body: bytes | dict[str, Any] | None,
                      retry_after_header: str | None = None) -> KubeApiError:
    """Build the typed error for an HTTP code and a (possibly missing) ``Status`` body."""
    status: dict[str, Any] = {}
    if isinstance(body, dict):
        status = body
    elif body:
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            status = parsed
        else:
            status = {"message": body[:200].decode("utf-8", "replace")}
    code = int(status.get("code") or code)
    reason = str(status.get("reason") or "")
    message = str(status.get("message") or "")
    details = status.get("details")
    retry_after = 0.0
    if isinstance(details, dict) and isinstance(details.get("retryAfterSeconds"), int | float):
        retry_after = float(details["retryAfterSeconds"])
    if retry_after_header:
        with contextlib.suppress(ValueError):
            retry_after = max(retry_after, float(retry_after_header))
    if code == 410:
        return ResourceExpiredError(code, reason or "Expired", message, retry_after)
    if code == 429:
        return TooManyRequestsError(code, reason or "TooManyRequestsError", message, retry_after)
    if code >= 500:
        return ApiUnavailableError(code, reason or "InternalError", message, retry_after)
    return KubeApiError(code, reason, message, retry_after)
