"""Routes parsed commands to the executors and turns their outcomes into result records.

``build_engines`` creates one incarnation's executors from ``RunnerSettings``: the audit log,
the ``ShellExecutor`` (its own worker threads), a small ``CallPool`` for Kubernetes and Cilium
calls, and the API reader/applier over ``HttpKubeTransport`` (or ``UnconfiguredTransport`` with
the reason when no API server is configured, so those commands fail with a clear error), and a
``HubbleRelayQueries`` port when ``hubble_relay_address`` is set.
``CommandDispatcher.dispatch`` answers at once when no I/O is needed (safe-apply off, Hubble
not configured, bad flow filters, a full call queue → ``busy``) and otherwise hands the work to
a thread that reports through ``deliver(("shell"|"call", request_id, outcome))``; that callback
may run on any thread (the shell executor calls it synchronously for refusals).
``record_for`` turns such an outcome into the ``command_result`` record. No thespian here.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from actors.commands import command_results as results
from actors.commands.audit import AuditLog
from actors.commands.call_pool import CANCELLED, EXPIRED, CallPool, QueueFullError
from actors.commands.cilium_request import CiliumQueries, parse_flow_query
from actors.commands.command_args import (
    CiliumArgs,
    CommandArgs,
    KubeGetArgs,
    ManifestArgs,
    ShellArgs,
)
from actors.commands.hubble_query_adapter import HubbleRelayQueries
from actors.commands.k8s_apply import ManifestApplier
from actors.commands.k8s_client_adapter import HttpKubeTransport
from actors.commands.k8s_request import KubeApiReader, KubeTransport, check_get_path
from actors.commands.runner_settings import RunnerSettings, UnconfiguredTransport, kube_endpoint
from actors.commands.shell_arg_patterns import ArgPatterns
from actors.commands.shell_executor_adapter import ShellExecutor, ShellRunResult

__all__ = ["CommandDispatcher", "CommandEngines", "Completion", "build_engines", "record_for"]

logger = logging.getLogger(__name__)

Completion = tuple[str, str, Any]       # (source, request_id, outcome)
HUBBLE_OPS = frozenset({"observe", "status", "nodes"})
HUBBLE_MISSING = ("hubble_not_configured: hubble not configured: this operator has no Hubble "
                  "Relay address for cilium observe/status/nodes")


@dataclasses.dataclass(frozen=True, slots=True)
class CommandEngines:
    """The executors of one runner incarnation."""

    settings: RunnerSettings
    audit: AuditLog
    shell: ShellExecutor
    calls: CallPool
    reader: KubeApiReader
    applier: ManifestApplier
    cilium: CiliumQueries
    hubble: HubbleRelayQueries | None = None


def build_engines(typed: RunnerSettings, *, name: str,
                  environ: Mapping[str, str]) -> CommandEngines:
    commands = typed.commands
    audit = AuditLog(path=commands.audit_path, max_bytes=commands.audit_max_bytes,
                     backups=commands.audit_backups)
    transport: KubeTransport
    try:
        transport = HttpKubeTransport(kube_endpoint(typed, environ))
    except ValueError as exc:
        logger.warning("%s: Kubernetes commands disabled: %s", name, exc)
        transport = UnconfiguredTransport(str(exc))
    reader = KubeApiReader(transport, commands, audit)
    hubble = HubbleRelayQueries(typed.hubble_relay_address) if typed.hubble_relay_address \
        else None
    return CommandEngines(
        settings=typed, audit=audit, shell=ShellExecutor(commands, audit=audit),
        calls=CallPool(workers=typed.api_concurrency, depth=commands.queue_depth,
                       name=f"calls-{name}"),
        reader=reader, applier=ManifestApplier(transport, commands, audit),
        cilium=CiliumQueries(hubble, reader, output_cap_bytes=commands.output_cap_bytes),
        hubble=hubble)


def record_for(item: Completion) -> dict[str, Any]:
    """The result record of one delivered outcome."""
    source, request_id, outcome = item
    if source == "shell" and isinstance(outcome, ShellRunResult):
        return results.shell_record(request_id, outcome)
    if isinstance(outcome, dict):
        return outcome
    if outcome == EXPIRED:
        return results.result_record(request_id, results.DEADLINE_EXCEEDED,
                                     "deadline: passed while it waited for a worker")
    if outcome == CANCELLED:
        return results.result_record(request_id, results.FAILED,
                                     "cancelled: the command runner is stopping")
    return results.result_record(request_id, results.FAILED,
                                 f"internal error: {type(outcome).__name__}")


class CommandDispatcher:
    """Starts each command on the right executor; outcomes come back through ``deliver``."""

    def __init__(self, engines: CommandEngines, deliver: Callable[[Completion], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.engines = engines
        self._arg_patterns = ArgPatterns(engines.settings.arg_patterns)
        self._deliver = deliver
        self._clock = clock

    def start(self) -> None:
        self.engines.shell.start()
        self.engines.calls.start()

    def close(self, timeout_s: float = 1.0) -> None:
        self.engines.shell.close(timeout_s=timeout_s)
        self.engines.calls.close(timeout_s=timeout_s)
        if self.engines.hubble is not None:
            self.engines.hubble.close()

    def stats(self) -> dict[str, float]:
        shell, calls = self.engines.shell.stats(), self.engines.calls.stats()
        return {"shell_queued": shell["queued"], "shell_running": shell["running"],
                "calls_queued": calls["queued"], "calls_running": calls["running"],
                "audit_write_errors_total": self.engines.audit.snapshot()["write_errors"]}

    def dispatch(self, request_id: str, args: CommandArgs, budget_s: float) \
            -> dict[str, Any] | None:
        """An immediate answer, or None when the outcome will come through ``deliver``."""
        if isinstance(args, ShellArgs):
            refusal = self._arg_patterns.refusal(args.command)
            if refusal is not None:
                self.engines.audit.record(tool="shell", request_id=request_id, accepted=False,
                                          code="arg_pattern", detail={"command": args.command,
                                                                      "reason": refusal})
                return results.result_record(request_id, results.REJECTED,
                                             f"refused: arg_pattern: {refusal}",
                                             {"command": args.command, "outcome": "refused"})
            self.engines.shell.submit(request_id=request_id, command=args.command,
                                      on_done=self._shell_done, timeout_s=budget_s)
            return None
        if isinstance(args, KubeGetArgs):
            return self._call(request_id, budget_s,
                              lambda left: self._kube_get(request_id, args, left))
        if isinstance(args, ManifestArgs):
            if not self.engines.settings.commands.safe_apply:   # refused before any I/O
                return self._manifests(request_id, args, 1.0)
            return self._call(request_id, budget_s,
                              lambda left: self._manifests(request_id, args, left))
        if args.op in HUBBLE_OPS and self.engines.hubble is None:
            return results.result_record(request_id, results.FAILED, HUBBLE_MISSING,
                                         {"op": args.op})
        return self._call(request_id, budget_s,
                          lambda left: self._cilium_call(request_id, args, left))

    def _call(self, request_id: str, budget_s: float,
              call: Callable[[float], Any]) -> dict[str, Any] | None:
        try:
            self.engines.calls.submit(request_id, self._clock() + budget_s, call,
                                      self._call_done)
        except QueueFullError:
            return results.result_record(request_id, results.REJECTED, "busy: too many "
                                         "Kubernetes/Cilium calls are waiting; retry later")
        return None

    # ---- run on pool threads ----------------------------------------------------------------

    def _kube_get(self, request_id: str, args: KubeGetArgs, left: float) -> dict[str, Any]:
        decision = check_get_path(args.path, self.engines.settings.commands)
        answer = self.engines.reader.get(request_id=request_id, api_path=args.path,
                                         timeout_s=left)
        return results.kube_record(request_id, answer,
                                   refused_code="" if decision.allowed else decision.code)

    def _manifests(self, request_id: str, args: ManifestArgs, left: float) -> dict[str, Any]:
        applier = self.engines.applier
        run = applier.apply if args.apply else applier.dry_run
        batch = run(request_id=request_id, yaml_text=args.yaml_text,
                    default_namespace=args.namespace, timeout_s=left)
        return results.manifests_record(request_id, batch,
                                        safe_apply=self.engines.settings.commands.safe_apply)

    def _cilium_call(self, request_id: str, args: CiliumArgs, left: float) -> dict[str, Any]:
        cilium = self.engines.cilium
        answer: Any
        if args.op == "observe":      # only reached once a Hubble port exists
            query = parse_flow_query(args.filters)
            if isinstance(query, str):
                return results.result_record(request_id, results.REJECTED,
                                             f"refused: bad_filters: {query}")
            answer = cilium.observe(filters=args.filters, timeout_s=left)
        elif args.op == "status":
            answer = cilium.status(timeout_s=left)
        elif args.op == "nodes":
            answer = cilium.nodes(timeout_s=left)
        else:
            answer = cilium.resources(
                request_id=request_id, kind=args.kind, namespace=args.namespace,
                name=args.name, label_selector=args.label_selector, timeout_s=left)
        return results.cilium_record(request_id, args.op, answer)

    def _shell_done(self, result: ShellRunResult) -> None:
        self._deliver(("shell", result.request_id, result))

    def _call_done(self, request_id: str, outcome: Any) -> None:
        self._deliver(("call", request_id, outcome))
