"""Read-only Kubernetes API requests from the cloud: path checks, redaction and size guard.

``check_get_path`` accepts a GET path only under the allowlisted prefixes, refuses traversal,
percent-encoding in the path, streaming and proxy-like subresources (exec, attach, portforward,
proxy) and any query parameter outside a small allowlist, and returns the normalised path.
``KubeApiReader.get`` sends it through the injected ``KubeTransport`` (the HTTP adapter, or a
fake in tests) and shapes the answer: the real HTTP status code, the Kubernetes ``Status``
message for errors, JSON bodies redacted (Secret values, managedFields, last-applied) and
re-serialised, pod logs as text. A body is read up to ``api_fetch_cap_bytes`` for parsing; an
object list larger than ``output_cap_bytes`` after redaction keeps its first items and says so
(``truncated`` + note); anything that cannot be shortened safely is answered with an error, never
with unredacted partial JSON. Every request is audited.
"""

from __future__ import annotations

import dataclasses
import json
import re
import urllib.parse
from typing import Any, Protocol

from actors.commands import redaction
from actors.commands.audit import AuditLog
from actors.commands.settings import CommandSettings

__all__ = ["KubeApiReader", "KubeGetResult", "KubeTransport", "KubeTransportFailureError",
           "PathDecision", "TransportResponse", "check_get_path", "status_message"]

_QUERY_PARAMS = {"limit": "int", "continue": "text", "labelSelector": "text",
                 "fieldSelector": "text", "tailLines": "int", "sinceSeconds": "int",
                 "previous": "bool", "container": "text", "timestamps": "bool"}
_STREAMING = {"watch", "follow"}
_FORBIDDEN_SEGMENTS = {"exec", "attach", "portforward", "proxy"}
_LOG_PATH = re.compile(r"^/api/v1/namespaces/[^/]+/pods/[^/]+/log$")
_MAX_PATH = 2048


class KubeTransportFailureError(Exception):
    """No HTTP response: connection refused, TLS failure, timeout. The text holds no token."""


@dataclasses.dataclass(frozen=True, slots=True)
class TransportResponse:
    """Status, content type and (bounded) body of one HTTP exchange."""

    status: int
    content_type: str
    body: bytes
    truncated: bool = False   # the body was longer than the max_bytes asked for


class KubeTransport(Protocol):
    """The narrow HTTP surface the command executors need from the API server."""

    def request(self, method: str, path: str, *, body: bytes | None = None,
                content_type: str | None = None, accept: str = "application/json",
                timeout_s: float, max_bytes: int) -> TransportResponse: ...


@dataclasses.dataclass(frozen=True, slots=True)
class PathDecision:
    """The verdict on one GET path."""

    allowed: bool
    path: str      # normalised path with re-encoded query ("" when refused)
    reason: str = ""
    code: str = "allowed"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class KubeGetResult:
    """One API path's answer; ``status_code`` 0 means no HTTP response was received."""

    api_path: str
    success: bool
    status_code: int
    body: str = ""
    error_message: str = ""
    truncated: bool = False
    note: str = ""


def _refuse(code: str, reason: str) -> PathDecision:
    return PathDecision(False, "", reason, code)


def check_get_path(raw: str, settings: CommandSettings) -> PathDecision:
    """Allow a GET path (normalised) or refuse it with a reason. Never raises."""
    if not isinstance(raw, str) or not raw or len(raw) > _MAX_PATH:
        return _refuse("bad_path", f"the path must be 1..{_MAX_PATH} characters")
    if any(ord(c) < 33 or ord(c) > 126 for c in raw) or "\\" in raw or "#" in raw:
        return _refuse("bad_path", "the path must be printable ASCII without spaces, "
                                   "backslashes or fragments")
    path, _, query = raw.partition("?")
    path = path if path.startswith("/") else "/" + path
    if "%" in path or ";" in path or "//" in path:
        return _refuse("path_encoding", "percent-encoding, ';' and '//' are not accepted in the "
                                        "path")
    segments = path.strip("/").split("/")
    if any(segment in (".", "..") for segment in segments):
        return _refuse("path_traversal", "'.' and '..' path segments are not accepted")
    if _FORBIDDEN_SEGMENTS.intersection(segments):
        return _refuse("forbidden_subresource", "exec, attach, portforward and proxy "
                                                "subresources are never called")
    path = path.rstrip("/") or "/"
    if path not in settings.get_exact_paths and not any(
            (path + "/").startswith(prefix) for prefix in settings.get_path_prefixes):
        return _refuse("path_not_allowed", f"{path} is outside the allowed API groups")
    try:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        return _refuse("bad_query", "the query string is malformed")
    names = [name for name, _ in pairs]
    for name, value in pairs:
        problem = _query_problem(name, value, names)
        if problem:
            return _refuse("bad_query", problem)
    encoded = urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote)
    return PathDecision(True, path + ("?" + encoded if encoded else ""))


def _query_problem(name: str, value: str, names: list[str]) -> str:
    if name in _STREAMING:
        return f"{name} streams until the timeout and is not accepted; ask for a snapshot"
    kind = _QUERY_PARAMS.get(name)
    if kind is None:
        return f"query parameter {name!r} is not accepted (allowed: {', '.join(_QUERY_PARAMS)})"
    if names.count(name) > 1:
        return f"query parameter {name!r} is given twice"
    if any(ord(c) < 32 for c in value) or len(value) > 1024:
        return f"query parameter {name!r} has a bad value"
    if kind == "int" and not (value.isdigit() and len(value) <= 9):
        return f"query parameter {name!r} must be a non-negative integer"
    if kind == "bool" and value not in ("true", "false"):
        return f"query parameter {name!r} must be true or false"
    return ""


def status_message(body: bytes) -> str:
    """The message of a Kubernetes ``Status`` body, with its reason and causes, or ''."""
    try:
        status = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(status, dict) or status.get("kind") != "Status":
        return ""
    text = f"{status.get('reason', '')}: {status.get('message', '')}".strip(": ")
    details = status.get("details")
    causes = details.get("causes") if isinstance(details, dict) else None
    if isinstance(causes, list):
        text += "".join(f"; {c.get('field', '')}: {c.get('message', '')}"
                        for c in causes[:10] if isinstance(c, dict))
    return text[:2000]


class KubeApiReader:
    """Runs checked GET paths through a transport and shapes safe answers."""

    def __init__(self, transport: KubeTransport, settings: CommandSettings,
                 audit: AuditLog | None = None) -> None:
        self._transport = transport
        self._settings = settings
        self._audit = audit or AuditLog()

    def get(self, *, request_id: str, api_path: str, timeout_s: float) -> KubeGetResult:
        decision = check_get_path(api_path, self._settings)
        self._audit.record(tool="k8s_get", request_id=request_id, accepted=decision.allowed,
                           code=decision.code, detail={"path": api_path,
                                                       "reason": decision.reason})
        if not decision.allowed:
            return KubeGetResult(api_path=api_path, success=False, status_code=400,
                                 error_message=decision.reason)
        timeout_s = min(max(timeout_s, 0.1), self._settings.max_timeout_s)
        try:
            response = self._transport.request(
                "GET", decision.path, timeout_s=timeout_s,
                max_bytes=self._settings.api_fetch_cap_bytes)
        except KubeTransportFailureError as exc:
            return KubeGetResult(api_path=api_path, success=False, status_code=0,
                                 error_message=f"no response from the API server: {exc}")
        return self._shape(api_path, decision.path, response)

    def _shape(self, api_path: str, path: str, response: TransportResponse) -> KubeGetResult:
        cap = self._settings.output_cap_bytes
        status = response.status
        if status >= 400:
            message = status_message(response.body) or f"HTTP {status}"
            return KubeGetResult(api_path=api_path, success=False, status_code=status,
                                 error_message=message)
        text = response.body.decode("utf-8", errors="replace")
        if _LOG_PATH.match(path.partition("?")[0]):
            return _capped_text(api_path, status, text, cap, response.truncated)
        if response.truncated:
            return KubeGetResult(api_path=api_path, success=False, status_code=status,
                                 truncated=True, error_message=(
                                     f"the response is larger than "
                                     f"{self._settings.api_fetch_cap_bytes} bytes; narrow it "
                                     "with limit, labelSelector or fieldSelector"))
        secret_hint = "secrets" in path.partition("?")[0].split("/")
        if "json" not in response.content_type:
            cleaned = redaction.redact_command_output(text)
            return _capped_text(api_path, status, cleaned.text, cap, False, cleaned.note)
        try:
            document: Any = json.loads(text)
        except ValueError:
            cleaned = redaction.redact_api_text(text, secret_hint=secret_hint)
            return _capped_text(api_path, status, cleaned.text, cap, False, cleaned.note)
        count = redaction.redact_object(document, secret_hint=secret_hint)
        note = f"{count} Secret value(s) redacted" if count else ""
        return _fit_document(api_path, status, document, cap, note)


def _capped_text(api_path: str, status: int, text: str, cap: int, cut: bool,
                 note: str = "") -> KubeGetResult:
    data = text.encode("utf-8")
    if len(data) > cap or cut:
        text = data[:cap].decode("utf-8", errors="ignore")
        note = "; ".join(filter(None, [note, f"text truncated to {cap} bytes"]))
        cut = True
    return KubeGetResult(api_path=api_path, success=True, status_code=status, body=text,
                         truncated=cut, note=note)


def _fit_document(api_path: str, status: int, document: Any, cap: int,
                  note: str) -> KubeGetResult:
    body = json.dumps(document, separators=(",", ":"))
    if len(body.encode("utf-8")) <= cap:
        return KubeGetResult(api_path=api_path, success=True, status_code=status, body=body,
                             note=note)
    items = document.get("items") if isinstance(document, dict) else None
    if not isinstance(items, list) or not items:
        return KubeGetResult(api_path=api_path, success=False, status_code=status,
                             truncated=True, error_message=f"the object is larger than the "
                                                           f"{cap}-byte output cap")
    low, high = 0, len(items)  # largest prefix of items that fits
    while low < high:
        middle = (low + high + 1) // 2
        trial = json.dumps({**document, "items": items[:middle]}, separators=(",", ":"))
        if len(trial.encode("utf-8")) <= cap:
            low = middle
        else:
            high = middle - 1
    body = json.dumps({**document, "items": items[:low]}, separators=(",", ":"))
    kept = f"kept {low} of {len(items)} items to fit {cap} bytes; use limit and continue"
    return KubeGetResult(api_path=api_path, success=True, status_code=status, body=body,
                         truncated=True, note="; ".join(filter(None, [note, kept])))
