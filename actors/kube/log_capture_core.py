"""What the pod-log component decides, as plain logic: captures, log_tail commands, deadlines.

``LogCaptureCore`` takes incident signals (``on_signals`` → ``LogCapturePlanner``: de-duplicated,
bounded) and ``command`` records (``on_command``: kind ``log_tail`` with args ``namespace, pod,
container, tail_lines, previous, since_seconds``), hands out ``LogJob`` s for free workers
(tails first), and turns every ``LogFetched`` into output records waiting for credit:
- ``logs`` ``{namespace, pod, pod_uid, container, previous, reason, lines, errors, truncated,
  bytes, error, request_id}`` — ``lines`` the raw text lines, ``errors`` the ``log_errors``
  entries that carry an error (stack traces grouped);
- ``command_result`` ``{request_id, status, error, payload, truncated}`` — exactly one per
  request id: ``ok`` (payload = the log text), ``failed`` (bad arguments, API error),
  ``rejected`` (too many pending), ``unsupported`` (another command kind) or
  ``deadline_exceeded`` (``expire()`` past the deadline; a late fetch is then dropped and
  counted). A repeated request id gets no second answer.
Deadlines are absolute Unix seconds (``deadline_unix``; values above 1e11 are read as ms).
Continuous streams (opt-in): ``plan_streams`` turns a ``StreamTargetsListed`` into the streams
to open and close (``choose_streams``: labelled namespaces only, capped; a failed listing
changes nothing), and ``on_streamed`` turns each ``LogLinesStreamed`` batch into a ``logs``
record with ``streamed: true`` and the batch's ``first_timestamp``/``last_timestamp`` (an error
group cut by a batch boundary is reported in two halves).
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable
from typing import Any

from actors.kube.incident_signals import Signal
from actors.kube.log_errors import parse_log
from actors.kube.log_fetch_adapter import LogFetched, LogJob, StreamTargetsListed
from actors.kube.log_stream_adapter import LogLinesStreamed
from actors.kube.pod_logs import LogCapturePlanner, LogCaptureRequest, StreamKey, choose_streams
from actors.kube.settings import KubeSettings
from messages.uplink import CloudCommandStatus

__all__ = ["LogCaptureCore"]

Output = tuple[str, dict[str, Any]]
_REMEMBERED_IDS = 4096


class LogCaptureCore:
    """Planner, pending tails, in-flight jobs and the output queue of ``pod_logs``."""

    def __init__(self, settings: KubeSettings, *, wall_clock: Callable[[], float],
                 clock: Callable[[], float], cooldown_s: float = 600.0,
                 max_pending_tails: int = 64, tail_timeout_s: float = 30.0) -> None:
        self.settings = settings
        self.wall_clock = wall_clock
        self.planner = LogCapturePlanner(settings, clock, cooldown_s=cooldown_s)
        self.max_pending_tails = max_pending_tails
        self.tail_timeout_s = tail_timeout_s
        self.tails: collections.deque[LogJob] = collections.deque()
        self.deadlines: dict[str, float] = {}          # unanswered tails by request id
        self.in_flight: dict[int, tuple[LogJob, LogCaptureRequest | None]] = {}
        self.ready: collections.deque[tuple[LogJob, LogCaptureRequest]] = collections.deque()
        self.outputs: collections.deque[Output] = collections.deque()
        self._answered: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._next_job = 0
        self.counters = {"captures": 0, "tails": 0, "fetch_errors": 0, "late_results": 0,
                         "duplicate_requests": 0, "bad_commands": 0, "deadline_exceeded": 0,
                         "rejected": 0, "bytes": 0, "stream_lines": 0, "stream_batches": 0,
                         "streams_started": 0, "streams_stopped": 0,
                         "stream_discovery_errors": 0}

    # -- input -----------------------------------------------------------------------------
    def on_signals(self, signals: Iterable[Signal]) -> int:
        return self.planner.on_signals(signals)

    def on_command(self, record: Any) -> None:
        if not isinstance(record, dict) or not str(record.get("request_id") or ""):
            self.counters["bad_commands"] += 1
            return
        request_id = str(record["request_id"])
        if request_id in self.deadlines or request_id in self._answered:
            self.counters["duplicate_requests"] += 1
            return
        if record.get("kind") != "log_tail":
            self._answer(request_id, CloudCommandStatus.UNSUPPORTED,
                         f"pod_logs does not handle {record.get('kind')!r}")
            return
        deadline = self._deadline(record.get("deadline_unix"))
        if deadline <= self.wall_clock():
            self._answer(request_id, CloudCommandStatus.DEADLINE_EXCEEDED,
                         "the deadline passed before the request was read")
            return
        job = self._tail_job(request_id, record.get("args"))
        if isinstance(job, str):
            self.counters["bad_commands"] += 1
            self._answer(request_id, CloudCommandStatus.FAILED, job)
            return
        if len(self.deadlines) >= self.max_pending_tails:
            self._answer(request_id, CloudCommandStatus.REJECTED,
                         f"{len(self.deadlines)} log tails pending")
            return
        self.counters["tails"] += 1
        self.deadlines[request_id] = deadline
        self.tails.append(job)

    def _deadline(self, raw: Any) -> float:
        if isinstance(raw, int | float) and not isinstance(raw, bool) and raw > 0:
            return float(raw) / 1000.0 if raw > 1e11 else float(raw)
        return self.wall_clock() + self.tail_timeout_s

    def _tail_job(self, request_id: str, args: Any) -> LogJob | str:
        if not isinstance(args, dict):
            return "bad arguments: expected a mapping"
        namespace, pod = args.get("namespace"), args.get("pod")
        container = args.get("container") or ""
        tail_lines = args.get("tail_lines") or self.settings.log_tail_lines
        since = args.get("since_seconds") or 0
        if not isinstance(namespace, str) or not namespace or not isinstance(pod, str) \
                or not pod or not isinstance(container, str):
            return "bad arguments: namespace and pod are required strings"
        for name, value in (("tail_lines", tail_lines), ("since_seconds", since)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                return f"bad arguments: {name} must be an integer >= 0"
        self._next_job += 1
        return LogJob(self._next_job, namespace, pod, container, bool(args.get("previous")),
                      min(tail_lines, 100_000), self.settings.log_limit_bytes, since,
                      request_id=request_id, reason="log_tail")

    # -- scheduling ------------------------------------------------------------------------
    def next_jobs(self, free_workers: int) -> list[LogJob]:
        """Jobs to start now: pending tails first, then planned captures."""
        out: list[LogJob] = []
        while self.tails and len(out) < free_workers:
            job = self.tails.popleft()
            if job.request_id in self.deadlines:          # not expired meanwhile
                self.in_flight[job.job_id] = (job, None)
                out.append(job)
        if not self.ready:
            for request in self.planner.next_requests():
                self._next_job += 1
                self.ready.append((LogJob(
                    self._next_job, request.namespace, request.pod, request.container,
                    request.previous, request.tail_lines, request.limit_bytes,
                    pod_uid=request.pod_uid, reason=request.reason), request))
        while self.ready and len(out) < free_workers:
            job, request = self.ready.popleft()
            self.in_flight[job.job_id] = (job, request)
            out.append(job)
        return out

    def expire(self) -> int:
        """Answer every tail whose deadline passed; returns how many."""
        now = self.wall_clock()
        late = [rid for rid, deadline in self.deadlines.items() if deadline <= now]
        for request_id in late:
            self.counters["deadline_exceeded"] += 1
            self._answer(request_id, CloudCommandStatus.DEADLINE_EXCEEDED,
                         "no answer from the API server before the deadline")
        return len(late)

    # -- results ---------------------------------------------------------------------------
    def on_fetched(self, fetched: LogFetched) -> None:
        entry = self.in_flight.pop(fetched.job_id, None)
        if entry is None:
            return
        job, request = entry
        if request is not None:
            self.planner.finished(request)
            self.counters["captures"] += 1
        elif job.request_id not in self.deadlines:
            self.counters["late_results"] += 1
            return
        if fetched.error:
            self.counters["fetch_errors"] += 1
        self.counters["bytes"] += len(fetched.body)
        truncated = len(fetched.body) >= job.limit_bytes
        text = fetched.body.decode("utf-8", "replace")
        if request is not None or not fetched.error:
            entries = parse_log(text) if text else []
            self.outputs.append(("logs", {
                "namespace": job.namespace, "pod": job.pod, "pod_uid": job.pod_uid,
                "container": job.container, "previous": job.previous, "reason": job.reason,
                "lines": text.splitlines(), "errors": [e for e in entries if e["error"]],
                "truncated": truncated, "bytes": len(fetched.body), "error": fetched.error,
                "request_id": job.request_id}))
        if request is None:
            if fetched.error:
                self._answer(job.request_id, CloudCommandStatus.FAILED, fetched.error)
            else:
                self._answer(job.request_id, CloudCommandStatus.OK, "", fetched.body,
                             truncated)

    def _answer(self, request_id: str, status: CloudCommandStatus, error: str,
                payload: bytes = b"", truncated: bool = False) -> None:
        self.deadlines.pop(request_id, None)
        if status is CloudCommandStatus.REJECTED:
            self.counters["rejected"] += 1
        self._answered[request_id] = None
        while len(self._answered) > _REMEMBERED_IDS:
            self._answered.popitem(last=False)
        self.outputs.append(("command_result", {
            "request_id": request_id, "status": status.value, "error": error,
            "payload": payload, "truncated": truncated}))

    def busy(self) -> int:
        return len(self.in_flight)

    # -- continuous streams ----------------------------------------------------------------
    def plan_streams(self, listed: StreamTargetsListed, active: set[StreamKey],
                     ) -> tuple[list[tuple[StreamKey, str]], list[StreamKey]]:
        """(streams to open with their pod uid, streams to close) for one listing."""
        if listed.error:
            self.counters["stream_discovery_errors"] += 1
            return [], []
        wanted = choose_streams(listed.namespace_labels, listed.pods, self.settings, active)
        uids = {(pod["namespace"], pod["name"]): str(pod.get("uid") or "")
                for pod in listed.pods}
        to_open = [(key, uids.get(key[:2], "")) for key in wanted if key not in active]
        to_close = sorted(active - set(wanted))
        self.counters["streams_started"] += len(to_open)
        self.counters["streams_stopped"] += len(to_close)
        return to_open, to_close

    def on_streamed(self, batch: LogLinesStreamed) -> None:
        namespace, pod, container = batch.key
        text = "\n".join(batch.lines)
        self.counters["stream_lines"] += len(batch.lines)
        self.counters["stream_batches"] += 1
        self.outputs.append(("logs", {
            "namespace": namespace, "pod": pod, "pod_uid": batch.pod_uid,
            "container": container, "previous": False, "reason": "stream",
            "lines": list(batch.lines),
            "errors": [e for e in parse_log(text) if e["error"]] if text else [],
            "truncated": False, "bytes": len(text.encode()), "error": "", "request_id": "",
            "streamed": True, "first_timestamp": batch.first_timestamp,
            "last_timestamp": batch.last_timestamp}))
