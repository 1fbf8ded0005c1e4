"""Runs allowlisted shell commands as argv in their own process group, bounded in every way.

``ShellExecutor.submit`` is the whole API the command actor needs: it checks the command string
with ``shell_policy`` (a refusal is answered at once), audits the decision, and queues an allowed
argv in a bounded queue. ``concurrency`` worker threads run queued commands; a request whose
deadline passes while it waits is answered with outcome ``deadline`` as soon as it passes (a
reaper thread checks the queue every 0.1 s) and is never started; a full queue is answered with
``queue_full``. A command runs with ``shell=False``, its program resolved
on the fixed search path, a scrubbed minimal environment, stdin from /dev/null and
``start_new_session=True``; on timeout, on output overflow, and after the leader exits, the whole
process group is killed (``os.killpg``) before the leader is reaped, so grandchildren cannot
outlive the request. Output is read incrementally up to the cap, then redacted. Every answer is a
``ShellRunResult`` carrying the request id, handed to the ``on_done`` callback (on a worker
thread, or on the caller's thread for immediate answers).
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from actors.commands import process_group, redaction, shell_policy
from actors.commands.audit import AuditLog
from actors.commands.settings import CommandSettings
from actors.commands.shell_queue import DeadlineQueue, QueueFullError

__all__ = ["ShellExecutor", "ShellRunResult", "scrubbed_environment"]

logger = logging.getLogger(__name__)

_EXPIRY_POLL_S = 0.1  # how often requests waiting in the queue are checked for their deadline
_SECRETISH = re.compile(r"(TOKEN|KEY|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH|COOKIE|SESSION)",
                        re.IGNORECASE)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ShellRunResult:
    """The answer to one command: outcome is completed, refused, timeout, deadline, queue_full,
    output_capped, failed or cancelled."""

    request_id: str
    command: str
    outcome: str
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    truncated: bool = False
    note: str = ""
    refusal_code: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class _Job:
    request_id: str
    command: str
    argv: tuple[str, ...]
    deadline: float
    on_done: Callable[[ShellRunResult], None]


def scrubbed_environment(settings: CommandSettings, environ: Mapping[str, str]) -> dict[str, str]:
    """The only environment a command sees: fixed PATH, C locale, named non-secret passthrough."""
    env = {"PATH": os.pathsep.join(settings.search_path), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
           "HOME": settings.working_dir}
    for name in settings.env_passthrough:
        if name in environ and not _SECRETISH.search(name) and not name.startswith("AWS_"):
            env[name] = environ[name]
    env.update({name: value for name, value in settings.extra_env.items()
                if not _SECRETISH.search(name) and not name.startswith("AWS_")})
    return env


class ShellExecutor:
    """Policy check, bounded queue, worker threads, process-group-safe execution."""

    def __init__(self, settings: CommandSettings, *, audit: AuditLog | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 environ: Mapping[str, str] | None = None) -> None:
        self._settings = settings
        self._audit = audit or AuditLog()
        self._clock = clock
        self._env = scrubbed_environment(settings, os.environ if environ is None else environ)
        self._queue: DeadlineQueue[_Job] = DeadlineQueue(settings.queue_depth, clock)
        self._workers: list[threading.Thread] = []
        self._closed = threading.Event()
        self._running: dict[int, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()
        self._outcomes: collections.Counter[str] = collections.Counter()

    def start(self) -> None:
        """Start the workers and the thread that answers requests expiring in the queue."""
        for index in range(self._settings.concurrency):
            worker = threading.Thread(target=self._work, name=f"shell-exec-{index}", daemon=True)
            worker.start()
            self._workers.append(worker)
        reaper = threading.Thread(target=self._expire_waiting, name="shell-exec-deadlines",
                                  daemon=True)
        reaper.start()
        self._workers.append(reaper)

    def stats(self) -> dict[str, Any]:
        """For /status: commands waiting and running, and answers by outcome."""
        with self._lock:
            return {"queued": len(self._queue), "running": len(self._running),
                    "outcomes": dict(self._outcomes)}

    def submit(self, *, request_id: str, command: str, on_done: Callable[[ShellRunResult], None],
               timeout_s: float | None = None) -> None:
        """Answer via ``on_done`` exactly once: refused, queued-then-run, or rejected at once."""
        decision = shell_policy.evaluate(command, self._settings)
        self._audit.record(tool="shell", request_id=request_id, accepted=decision.allowed,
                           code=decision.code, detail={"command": command,
                                                       "reason": decision.reason})
        if not decision.allowed:
            logger.info("shell request %s refused: %s", request_id, decision.code)
            self._deliver(on_done, ShellRunResult(
                request_id=request_id, command=command, outcome="refused",
                note=decision.reason, refusal_code=decision.code))
            return
        budget = self._settings.timeout_s if timeout_s is None or timeout_s <= 0 else timeout_s
        budget = min(budget, self._settings.max_timeout_s)
        job = _Job(request_id, command, decision.argv, self._clock() + budget, on_done)
        if self._closed.is_set():
            self._deliver(on_done, self._answer(job, "cancelled",
                                                note="the executor is shutting down"))
            return
        try:
            self._queue.put(job)
        except QueueFullError:
            self._deliver(on_done, self._answer(
                job, "queue_full", note=f"{self._settings.queue_depth} commands are already "
                                        "waiting; retry later"))

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop accepting, kill running process groups, answer queued jobs, join workers."""
        self._closed.set()
        with self._lock:
            for process in self._running.values():
                process_group.kill_group(process.pid)
        for job in self._queue.close():
            self._deliver(job.on_done, self._answer(job, "cancelled",
                                                    note="the executor shut down"))
        for worker in self._workers:
            worker.join(timeout=timeout_s)

    def _expire_waiting(self) -> None:
        while not self._closed.wait(_EXPIRY_POLL_S):
            for job in self._queue.expire():
                self._deliver(job.on_done, self._deadline_answer(job))

    def _work(self) -> None:
        while True:
            job = self._queue.take()
            if job is None:
                return
            try:
                result = self._run_job(job)
            except Exception as exc:  # an answer is always owed to the cloud
                logger.exception("shell job %s failed", job.request_id)
                result = self._answer(job, "failed", note=f"internal error: {type(exc).__name__}")
            self._deliver(job.on_done, result)

    def _deliver(self, on_done: Callable[[ShellRunResult], None],
                 result: ShellRunResult) -> None:
        with self._lock:
            self._outcomes[result.outcome] += 1
        try:
            on_done(result)
        except Exception:
            logger.exception("on_done callback failed for %s", result.request_id)

    def _run_job(self, job: _Job) -> ShellRunResult:
        if self._closed.is_set():
            return self._answer(job, "cancelled", note="the executor shut down")
        remaining = job.deadline - self._clock()
        if remaining <= 0:
            return self._deadline_answer(job)
        executable = shutil.which(job.argv[0], path=os.pathsep.join(self._settings.search_path))
        if executable is None:
            return self._answer(job, "failed", note=f"{job.argv[0]} is not installed")
        return self._run_process(job, (executable, *job.argv[1:]), remaining)

    def _run_process(self, job: _Job, argv: tuple[str, ...], budget: float) -> ShellRunResult:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, env=self._env, shell=False,
                                   cwd=self._settings.working_dir, start_new_session=True,
                                   close_fds=True)
        with self._lock:
            self._running[process.pid] = process
        try:
            capture = process_group.OutputCapture(process, self._clock, self._clock() + budget,
                               self._settings.output_cap_bytes, self._closed)
            capture.drain()
        finally:
            # the leader is not reaped yet, so the group id still names only our processes
            process_group.kill_group(process.pid)
            exit_code = process.wait()
            with self._lock:
                self._running.pop(process.pid, None)
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
        return self._finish(job, capture, exit_code, budget)

    def _finish(self, job: _Job, capture: process_group.OutputCapture, exit_code: int,
                budget: float) -> ShellRunResult:
        stdout = bytes(capture.out).decode("utf-8", errors="replace")
        stderr = redaction.redact_command_output(
            bytes(capture.err).decode("utf-8", errors="replace"), truncated=capture.capped).text
        cleaned = redaction.redact_command_output(stdout, truncated=capture.capped)
        notes = [cleaned.note] if cleaned.note else []
        outcome = "completed"
        if self._closed.is_set() and exit_code < 0:
            outcome = "cancelled"
            notes.append("the executor shut down while the command ran")
        elif capture.timed_out:
            outcome = "timeout"
            notes.append(f"timed out after {budget:.1f} s; the process group was killed")
        elif capture.capped:
            outcome = "output_capped"
            notes.append(f"output truncated at {self._settings.output_cap_bytes} bytes; the "
                         "process group was stopped")
        return ShellRunResult(request_id=job.request_id, command=job.command, outcome=outcome,
                              exit_code=None if capture.timed_out else exit_code,
                              stdout=cleaned.text, stderr=stderr, truncated=capture.capped,
                              note="; ".join(notes))

    def _deadline_answer(self, job: _Job) -> ShellRunResult:
        return self._answer(job, "deadline", note="the request's deadline passed while it "
                                                  "waited for a free slot; it was not run")

    def _answer(self, job: _Job, outcome: str, *, note: str) -> ShellRunResult:
        return ShellRunResult(request_id=job.request_id, command=job.command, outcome=outcome,
                              note=note)
