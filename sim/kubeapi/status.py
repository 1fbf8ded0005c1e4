"""Kubernetes ``Status`` error objects and the exception that carries them out of handlers.

Every failure the simulator reports goes through :class:`ApiError`, so the wire shape (kind,
apiVersion, status, message, reason, details, code) always matches kube-apiserver's. Message texts
copy the real server's wording because clients and tests match on them.
"""

from __future__ import annotations

import json
from typing import Any

REASONS = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
    405: "MethodNotAllowed", 406: "NotAcceptable", 409: "Conflict", 410: "Expired",
    415: "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests",
    500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout",
}


class ApiError(Exception):
    """A request failure rendered as a ``Status`` body with HTTP code ``code``."""

    def __init__(self, code: int, message: str, *, reason: str | None = None,
                 details: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or REASONS.get(code, "Unknown")
        self.details = details
        self.headers = headers or {}

    def status(self) -> dict[str, Any]:
        return status_object(self.code, self.message, self.reason, self.details)

    def body(self) -> bytes:
        return json.dumps(self.status(), separators=(",", ":")).encode()


def status_object(code: int, message: str, reason: str,
                  details: dict[str, Any] | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason,
    }
    if details is not None:
        status["details"] = details
    status["code"] = code
    return status


def success_status(name: str, group: str, kind: str, uid: str) -> dict[str, Any]:
    """What DELETE returns for an object removed immediately (no finalizers)."""
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": {"name": name, "group": group, "kind": kind, "uid": uid}}


def qualified(plural: str, group: str) -> str:
    return plural if not group else f"{plural}.{group}"


def not_found(plural: str, group: str, name: str) -> ApiError:
    return ApiError(404, f'{qualified(plural, group)} "{name}" not found',
                    details={"name": name, "group": group, "kind": plural})


def already_exists(plural: str, group: str, name: str) -> ApiError:
    return ApiError(409, f'{qualified(plural, group)} "{name}" already exists',
                    reason="AlreadyExists",
                    details={"name": name, "group": group, "kind": plural})


def conflict(plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        409,
        f'Operation cannot be fulfilled on {qualified(plural, group)} "{name}": the object has '
        "been modified; please apply your changes to the latest version and try again",
        details={"name": name, "group": group, "kind": plural})


def invalid(kind: str, group: str, name: str, field: str, detail: str) -> ApiError:
    return ApiError(
        422, f'{qualified(kind, group)} "{name}" is invalid: {field}: {detail}',
        details={"name": name, "group": group, "kind": kind,
                 "causes": [{"reason": "FieldValueInvalid", "message": detail,
                             "field": field}]})


def expired(message: str) -> ApiError:
    return ApiError(410, message, reason="Expired")


def too_old(requested: int, oldest: int) -> ApiError:
    return expired(f"too old resource version: {requested} ({oldest})")


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)
