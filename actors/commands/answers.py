"""Turns executor results into answer messages and gathers multi-command requests by request id.

A cloud shell request carries several commands; each is submitted to the executor as
``<request_id>#<index>`` and ``ShellRequestTracker.record`` assembles the
``ShellCommandsAnswered`` once every command answered, in the original order. A request id that
is already in flight is not started twice (``begin`` returns no work), and a retry of a recently
answered request gets the same answer again from a bounded cache: requests are idempotent on
retry. Thread-safe, because executor callbacks arrive on worker threads. No I/O.
"""

from __future__ import annotations

import collections
import threading

from actors.commands.cilium_request import CiliumQueryResult
from actors.commands.k8s_apply import ManifestBatchResult
from actors.commands.k8s_request import KubeGetResult
from actors.commands.shell_executor_adapter import ShellRunResult
from messages.commands import (
    CiliumQueryAnswered,
    KubeApiPathAnswer,
    ManifestDocumentOutcome,
    ManifestsAnswered,
    ShellCommandOutcome,
    ShellCommandsAnswered,
)

__all__ = ["ShellRequestTracker", "cilium_answer", "kube_path_answer", "manifests_answer",
           "shell_outcome"]


def shell_outcome(result: ShellRunResult) -> ShellCommandOutcome:
    return ShellCommandOutcome(command=result.command, outcome=result.outcome,
                               exit_code=-1 if result.exit_code is None else result.exit_code,
                               stdout=result.stdout, stderr=result.stderr,
                               truncated=result.truncated, note=result.note,
                               refusal_code=result.refusal_code)


def kube_path_answer(result: KubeGetResult) -> KubeApiPathAnswer:
    return KubeApiPathAnswer(api_path=result.api_path, success=result.success,
                             status_code=result.status_code, body=result.body,
                             error_message=result.error_message, truncated=result.truncated,
                             note=result.note)


def manifests_answer(request_id: str, batch: ManifestBatchResult) -> ManifestsAnswered:
    outcomes = tuple(ManifestDocumentOutcome(index=o.index, kind=o.kind, namespace=o.namespace,
                                             name=o.name, ok=o.ok, status_code=o.status_code,
                                             message=o.message) for o in batch.outcomes)
    return ManifestsAnswered(request_id=request_id, ok=batch.ok, dry_run=batch.dry_run,
                             outcomes=outcomes, error=batch.error)


def cilium_answer(request_id: str, result: CiliumQueryResult | KubeGetResult) -> \
        CiliumQueryAnswered:
    if isinstance(result, KubeGetResult):
        return CiliumQueryAnswered(request_id=request_id, success=result.success,
                                   status_code=result.status_code, body=result.body,
                                   error_message=result.error_message,
                                   truncated=result.truncated, note=result.note)
    return CiliumQueryAnswered(request_id=request_id, success=result.success, body=result.body,
                               error_message=result.error_message, truncated=result.truncated,
                               note=result.note)


class ShellRequestTracker:
    """Correlates per-command results back into one answer per cloud request."""

    def __init__(self, *, remember: int = 256) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, list[ShellCommandOutcome | None]] = {}
        self._answered: collections.OrderedDict[str, ShellCommandsAnswered] = \
            collections.OrderedDict()
        self._remember = remember

    def begin(self, request_id: str, commands: tuple[str, ...]) -> \
            tuple[list[tuple[str, str]], ShellCommandsAnswered | None]:
        """Work to submit as ``(sub_id, command)``, or a cached answer for a retried request."""
        with self._lock:
            if request_id in self._answered:
                return [], self._answered[request_id]
            if request_id in self._pending:
                return [], None
            if not commands:
                answer = ShellCommandsAnswered(request_id=request_id, results=(),
                                               error="no commands")
                return [], answer
            self._pending[request_id] = [None] * len(commands)
        return [(f"{request_id}#{index}", command) for index, command in
                enumerate(commands)], None

    def record(self, result: ShellRunResult) -> ShellCommandsAnswered | None:
        """File one command's result; the whole answer once the last one arrived."""
        request_id, _, index_text = result.request_id.rpartition("#")
        with self._lock:
            slots = self._pending.get(request_id)
            if slots is None or not index_text.isdigit() or int(index_text) >= len(slots):
                return None
            slots[int(index_text)] = shell_outcome(result)
            if any(slot is None for slot in slots):
                return None
            del self._pending[request_id]
            answer = ShellCommandsAnswered(
                request_id=request_id,
                results=tuple(slot for slot in slots if slot is not None))
            self._answered[request_id] = answer
            while len(self._answered) > self._remember:
                self._answered.popitem(last=False)
            return answer

    def in_flight(self) -> int:
        with self._lock:
            return len(self._pending)
