"""Builds ``command_result`` records from the executors' answers (plain logic, no I/O).

A record is ``{request_id, status, error, payload, truncated}`` (``messages.records``); ``status``
is one of the cloud protocol's values (``ok``, ``failed``, ``rejected``, ``deadline_exceeded``,
``unsupported``) and ``error`` starts with a short code when the operator refused or gave up
(``busy: ...``, ``refused: ...``). ``payload`` is a msgpack map (like the uplink's own local
answers), one shape per kind, plus ``error`` whenever the answer is not ``ok``:
- ``k8s_get``: ``{"api_path", "status_code", "body", "note"}`` (``body`` is the redacted JSON
  text, or log text; ``status_code`` 0 = no HTTP response);
- ``shell``: ``{"command", "outcome", "exit_code", "stdout", "stderr", "note"}``;
- ``yaml_dry_run`` / ``yaml_apply``: ``{"dry_run", "ok", "documents": [{"index", "kind",
  "namespace", "name", "ok", "status_code", "message"}]}``;
- ``cilium``: ``{"op", "status_code", "body", "note"}`` (``body`` is JSON text);
- refusals, busy and deadline answers carry ``{"error"}`` (and what the kind already knew).
The executors already redacted and capped the text; nothing here adds unbounded data.
"""

from __future__ import annotations

from typing import Any

import msgpack

from actors.commands.cilium_request import CiliumQueryResult
from actors.commands.k8s_apply import ManifestBatchResult
from actors.commands.k8s_request import KubeGetResult
from actors.commands.shell_executor_adapter import ShellRunResult

__all__ = ["DEADLINE_EXCEEDED", "FAILED", "OK", "REJECTED", "UNSUPPORTED", "cilium_record",
           "counter_names", "kube_record", "manifests_record", "result_record", "shell_record"]

OK = "ok"
FAILED = "failed"
REJECTED = "rejected"
DEADLINE_EXCEEDED = "deadline_exceeded"
UNSUPPORTED = "unsupported"

_SHELL_STATUS = {"completed": OK, "output_capped": OK, "refused": REJECTED,
                 "queue_full": REJECTED, "deadline": DEADLINE_EXCEEDED, "timeout": FAILED,
                 "failed": FAILED, "cancelled": FAILED}


def result_record(request_id: str, status: str, error: str = "",
                  payload: dict[str, Any] | None = None, truncated: bool = False) -> dict[str, Any]:
    fields = dict(payload or {})
    if error:
        fields.setdefault("error", error)
    body = bytes(msgpack.packb(fields, use_bin_type=True))
    return {"request_id": request_id, "status": status, "error": error, "payload": body,
            "truncated": truncated}


def counter_names(record: dict[str, Any]) -> list[str]:
    """The runner's ``*_total`` counters one answered record bumps (refusals by reason)."""
    status, error = record["status"], str(record["error"])
    if status in (OK, FAILED):
        return ["commands_completed_total", f"commands_{status}_total"]
    if status == DEADLINE_EXCEEDED:
        return ["commands_deadline_exceeded_total"]
    if error.startswith("busy:"):
        return ["commands_busy_total"]
    parts = error.split(":")
    code = parts[1].strip() if parts[0] == "refused" and len(parts) > 1 else parts[0]
    return ["commands_refused_total", f"commands_refused_{code or 'other'}_total"]


def kube_record(request_id: str, result: KubeGetResult, *, refused_code: str = "") \
        -> dict[str, Any]:
    """``refused_code`` marks a path the policy refused (answered ``rejected``)."""
    payload = {"api_path": result.api_path, "status_code": result.status_code,
               "body": result.body, "note": result.note}
    if refused_code:
        return result_record(request_id, REJECTED,
                             f"refused: {refused_code}: {result.error_message}", payload)
    if result.success:
        return result_record(request_id, OK, "", payload, result.truncated)
    return result_record(request_id, FAILED, result.error_message or
                         f"HTTP {result.status_code}", payload, result.truncated)


def shell_record(request_id: str, result: ShellRunResult) -> dict[str, Any]:
    payload = {"command": result.command, "outcome": result.outcome,
               "exit_code": -1 if result.exit_code is None else result.exit_code,
               "stdout": result.stdout, "stderr": result.stderr, "note": result.note}
    status = _SHELL_STATUS.get(result.outcome, FAILED)
    error = ""
    if result.outcome == "refused":
        error = f"refused: {result.refusal_code}: {result.note}"
    elif result.outcome == "queue_full":
        error = f"busy: {result.note}"
    elif result.outcome == "deadline":
        error = f"deadline: {result.note}"
    elif status == FAILED:
        error = f"{result.outcome}: {result.note}"
    elif result.exit_code not in (0, None):
        status, error = FAILED, f"exit code {result.exit_code}"
    return result_record(request_id, status, error, payload, result.truncated)


def manifests_record(request_id: str, batch: ManifestBatchResult, *, safe_apply: bool) \
        -> dict[str, Any]:
    documents = [{"index": o.index, "kind": o.kind, "namespace": o.namespace, "name": o.name,
                  "ok": o.ok, "status_code": o.status_code, "message": o.message}
                 for o in batch.outcomes]
    payload = {"dry_run": batch.dry_run, "ok": batch.ok, "documents": documents}
    if not safe_apply:
        return result_record(request_id, REJECTED, f"refused: safe_apply_disabled: "
                                                   f"{batch.error}", payload)
    if batch.ok:
        return result_record(request_id, OK, "", payload)
    return result_record(request_id, FAILED, batch.error or "at least one document failed",
                         payload)


def cilium_record(request_id: str, op: str, result: CiliumQueryResult | KubeGetResult) \
        -> dict[str, Any]:
    status_code = result.status_code if isinstance(result, KubeGetResult) else 0
    payload = {"op": op, "status_code": status_code, "body": result.body, "note": result.note}
    if result.success:
        return result_record(request_id, OK, "", payload, result.truncated)
    return result_record(request_id, FAILED, result.error_message, payload, result.truncated)
