"""``CommandRunner``: runs the cloud's commands and answers each one exactly once.

Consumes ``command`` records ``{request_id, deadline_unix, kind, args}`` from a request link
(the uplink) and emits one ``command_result`` record per request on its BLOCK link back to the
requester. Kinds: ``k8s_get`` (``KubeApiReader``), ``shell`` (``ShellExecutor``: policy, own
worker threads), ``yaml_dry_run``/``yaml_apply`` (``ManifestApplier``, refused unless
``safe_apply``), ``cilium`` (``CiliumQueries``; observe/status/nodes go to Hubble Relay through
``hubble_query_adapter.relay_queries``: the configured ``hubble_relay_address`` or the discovered
hubble-relay Service, TLS unless ``hubble_tls_enabled: false``; a clear "hubble not configured"
error when there is neither an address nor a Kubernetes API to discover it). Args and result
shapes: ``command_args`` and ``command_results``; routing: ``command_dispatch``. Blocking
calls run on the executor's threads or a small ``CallPool``; their results reach the actor
only through the ``IoBridge`` (answers produced synchronously inside this handler are kept in a
list instead, so the actor never blocks on its own bridge).
Every request has a deadline (``timeout_s`` when none came): a timer answers it with
``deadline_exceeded`` when it passes, and a later result is counted as late, never sent. Full
queues answer ``busy``; retried ids get the cached answer (``CommandBook``). While results wait
for credit, incoming batches are held unfinished (no new credit reaches the uplink) and the
bridge stops being drained once ``OUTBOX_LIMIT`` results wait. A crash loses in-flight work
only; the uplink answers those requests at their deadline.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import enum
import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

from actors.commands import command_results as results
from actors.commands.cilium_request import CiliumQueries
from actors.commands.command_args import ArgsProblem, parse_command
from actors.commands.command_book import Admission, CommandBook
from actors.commands.command_dispatch import (
    CommandDispatcher,
    CommandEngines,
    Completion,
    build_engines,
    record_for,
)
from actors.commands.hubble_query_adapter import relay_queries
from actors.commands.result_outbox import ResultOutbox
from actors.commands.runner_settings import RunnerSettings, runner_settings
from actors.runtime.component_actor import ComponentActor, TimerTag
from actors.runtime.io_bridge import BridgeClosedError, IoBridge
from messages import codec
from messages.records import RecordKind
from messages.runtime import LinkBatch

__all__ = ["CommandRunner"]

logger = logging.getLogger(__name__)

COMMAND = RecordKind.COMMAND.value
COMMAND_RESULT = RecordKind.COMMAND_RESULT.value


class RunnerTimer(enum.Enum):
    """The runner's own wakeups."""

    DEADLINES = "deadlines"


class CommandRunner(ComponentActor):
    """Answers every cloud command once: result, refusal, busy or deadline error."""

    OUTBOX_LIMIT = 256          # results waiting for credit before the bridge stops draining

    def __init__(self, capabilities: Mapping[str, Any] | None = None) -> None:
        super().__init__(capabilities)
        self.dispatcher: CommandDispatcher | None = None
        self.book = CommandBook()
        self.timeout_s = 30.0
        self._outbox = ResultOutbox()
        self._held: collections.deque[LinkBatch] = collections.deque()
        self._reply_to: dict[str, str] = {}
        self._deadline_bound: set[str] = set()   # budgets cut by the request's deadline
        self._handler_thread = 0
        self._immediate: list[Completion] = []
        self._armed_for: float | None = None
        self._counters: collections.Counter[str] = collections.Counter()

    # ---- lifecycle -------------------------------------------------------------------------

    def configure(self, settings: dict[str, Any]) -> None:
        typed, errors = runner_settings(settings)
        if errors:
            raise ValueError("command_runner settings: " + "; ".join(errors))
        commands = typed.commands
        self.timeout_s = commands.timeout_s
        # sized above every result that can be outstanding, so a put rarely waits
        self.attach_bridge(IoBridge(commands.concurrency + 2 * commands.queue_depth
                                    + typed.api_concurrency + 16))
        engines = _with_relay(build_engines(
            dataclasses.replace(typed, hubble_relay_address=""),   # the relay is wired below
            name=self.component_id, environ=os.environ), typed)
        self.dispatcher = CommandDispatcher(engines, self._deliver)
        self.dispatcher.start()

    def stop_io(self) -> None:
        if self.io_bridge is not None:
            self.io_bridge.close()           # releases workers blocked on a full bridge
        if self.dispatcher is not None:
            self.dispatcher.close(timeout_s=1.0)

    # ---- requests in -----------------------------------------------------------------------

    def on_batch(self, batch: LinkBatch) -> bool:
        if batch.record_kind != COMMAND:
            self._counters["foreign_records_total"] += batch.count
            return True
        if self._held or self._outbox:      # results wait for credit: take no new commands
            self._held.append(batch)
            return False
        self._take(batch)
        return True

    def _take(self, batch: LinkBatch) -> None:
        requester = batch.link_id.split("->", 1)[0]     # answers go back to the producer
        try:
            records = codec.unpack_records(batch.payload)
        except codec.CodecError:
            self._counters["malformed_batches_total"] += 1
            logger.warning("%s: malformed command batch on %s", self, batch.link_id)
            return
        self._handler_thread = threading.get_ident()
        try:
            for record in records:
                self._accept(record, requester)
        finally:
            self._handler_thread = 0
        immediate, self._immediate = self._immediate, []
        for item in immediate:
            self._settle(item[1], record_for(item))
        self._after_change()

    def _accept(self, record: Any, requester: str) -> None:
        envelope = parse_command(record)
        if isinstance(envelope, ArgsProblem):     # no request id: nobody to answer
            self._counters["unanswerable_records_total"] += 1
            logger.warning("%s: dropped a command without a usable id: %s", self,
                           envelope.message)
            return
        request_id = envelope.request_id
        admission, cached = self.book.admit(request_id)
        if admission is not Admission.NEW:
            self._counters["commands_duplicate_total"] += 1
            if cached is not None:
                self._outbox.append(requester, cached)
            return
        self._reply_to[request_id] = requester
        if isinstance(envelope.args, ArgsProblem):
            problem = envelope.args
            unknown = problem.code == "unknown_kind"
            self._answer_now(request_id, results.result_record(
                request_id, results.UNSUPPORTED if unknown else results.REJECTED,
                ("unknown_kind" if unknown else f"refused: {problem.code}") +
                f": {problem.message}"))
            return
        now = self.book.now()
        deadline = envelope.deadline_unix or now + self.timeout_s
        if deadline <= now:
            self._answer_now(request_id, results.result_record(
                request_id, results.DEADLINE_EXCEEDED, "deadline: passed before it was taken"))
            return
        self.book.start(request_id, envelope.kind, deadline)
        self._counters["commands_accepted_total"] += 1
        if deadline - now < self.timeout_s:
            self._deadline_bound.add(request_id)
        left = min(deadline - now, self.timeout_s)   # finish a little before the deadline
        budget_s = max(0.05, left - min(0.5, 0.1 * left))
        if self.dispatcher is None:
            raise RuntimeError("a command arrived before configure")
        answer = self.dispatcher.dispatch(request_id, envelope.args, budget_s)
        if answer is not None:
            self._settle(request_id, answer)

    def _deliver(self, item: Completion) -> None:
        """Executor callback, any thread: into the bridge; on the handler thread: a list."""
        if threading.get_ident() == self._handler_thread:
            self._immediate.append(item)
            return
        bridge = self.io_bridge
        if bridge is not None:
            with contextlib.suppress(BridgeClosedError):   # stopping: the uplink times out
                bridge.put(item)

    # ---- results out -----------------------------------------------------------------------

    def on_bridge_items(self, items: list[Any]) -> None:
        for item in items:
            self._settle(item[1], record_for(item))
        self._after_change()
        self._resume_held()

    def _settle(self, request_id: str, record: dict[str, Any]) -> None:
        if request_id in self._deadline_bound:
            self._deadline_bound.discard(request_id)
            if record["status"] == results.FAILED and str(record["error"]).startswith("timeout:"):
                record = {**record, "status": results.DEADLINE_EXCEEDED,
                          "error": "deadline: " + record["error"]}
        if self.book.answer(request_id, record):      # False: its deadline answer went out
            self._queue(request_id, record)

    def _answer_now(self, request_id: str, record: dict[str, Any]) -> None:
        self.book.remember(request_id, record)
        self._queue(request_id, record)

    def _queue(self, request_id: str, record: dict[str, Any]) -> None:
        self._counters.update(results.counter_names(record))
        self._outbox.append(self._reply_to.pop(request_id, ""), record)

    def on_timer(self, tag: TimerTag) -> None:
        if tag.kind is not RunnerTimer.DEADLINES:
            return
        self._armed_for = None
        for request_id in self.book.expired():
            self._settle(request_id, results.result_record(
                request_id, results.DEADLINE_EXCEEDED, "deadline: no result before the deadline"))
        self._after_change()
        self._resume_held()

    def on_credit_available(self, link_id: str) -> None:
        self._after_change()
        self._resume_held()

    def _resume_held(self) -> None:
        """Take held command batches (and credit them) once no result waits for credit."""
        while self._held and not self._outbox:
            batch = self._held.popleft()
            self._take(batch)
            self.finish_batch(batch)

    def bridge_ready(self) -> bool:
        return len(self._outbox) < self.OUTBOX_LIMIT

    def _after_change(self) -> None:
        self._flush()
        next_deadline = self.book.next_deadline()
        if next_deadline is not None and next_deadline != self._armed_for:
            self._armed_for = next_deadline
            self.start_timer(max(0.0, next_deadline - self.book.now()) + 0.01,
                             RunnerTimer.DEADLINES)

    def _flush(self) -> None:
        self._counters["results_sent_total"] += self._outbox.flush(
            self._resolve, self.has_credit, self._emit_results)

    def _emit_results(self, target: str, batch: list[dict[str, Any]]) -> None:
        self.emit(target, COMMAND_RESULT, len(batch), codec.pack_records(batch))

    def _resolve(self, requester: str) -> str:
        """The consumer to answer on: the requester's link, else the only outgoing link."""
        links = self.outgoing_links()
        if any(link.consumer_id == requester for link in links):
            return requester
        return links[0].consumer_id if len(links) == 1 else ""

    def status_counters(self) -> dict[str, float]:
        counters: dict[str, float] = dict(self._counters)
        counters.update({"commands_in_flight": self.book.in_flight(),
                         "results_queued": len(self._outbox),
                         "held_batches": len(self._held),
                         "results_late_total": self.book.late_results})
        if self.dispatcher is not None:
            counters.update(self.dispatcher.stats())
            hubble = self.dispatcher.engines.hubble
            if hubble is not None:
                counters.update(hubble.stats())
        return counters


def _with_relay(engines: CommandEngines, typed: RunnerSettings) -> CommandEngines:
    """The engines with the TLS-capable (or discovered) relay port, when there is one."""
    hubble = relay_queries(typed, os.environ)
    cilium = engines.cilium if hubble is None else CiliumQueries(
        hubble, engines.reader, output_cap_bytes=typed.commands.output_cap_bytes)
    return dataclasses.replace(engines, settings=typed, hubble=hubble, cilium=cilium)
