"""LogCaptureCore (the pod_logs actor's logic): captures, log_tail answers and deadlines."""

from actors.kube.log_capture_core import LogCaptureCore
from actors.kube.log_fetch_adapter import LogFetched
from actors.kube.settings import KubeSettings

CRASH_LOG = (b"INFO  started\nERROR worker crashed\nTraceback (most recent call last):\n"
             b'  File "/app/w.py", line 4, in run\nValueError: bad payload\n')


class Clock:
    def __init__(self):
        self.now = 2_000_000_000.0

    def __call__(self):
        return self.now


def make(**kwargs):
    clock = Clock()
    settings = KubeSettings(log_tail_lines=50, log_limit_bytes=1000, log_capture_concurrency=2)
    return LogCaptureCore(settings, wall_clock=clock, clock=clock, **kwargs), clock


def tail(request_id, deadline, **args):
    return {"request_id": request_id, "deadline_unix": deadline, "kind": "log_tail",
            "args": {"namespace": "shop", "pod": "cart-1", **args}}


def results(core):
    return [record for kind, record in core.outputs if kind == "command_result"]


def test_every_command_gets_exactly_one_answer():
    core, clock = make(max_pending_tails=1)
    core.on_command(tail("ok", clock.now + 10, tail_lines=5, previous=True))
    core.on_command(tail("ok", clock.now + 10))                       # duplicate: ignored
    core.on_command(tail("full", clock.now + 10))                     # one pending max
    core.on_command(tail("late", clock.now - 1))
    core.on_command({"request_id": "x", "kind": "shell", "args": {}})
    core.on_command(tail("bad", clock.now + 10, tail_lines=-1))
    core.on_command({"kind": "log_tail"})                             # no id: counted only
    (job,) = core.next_jobs(2)
    assert (job.pod, job.previous, job.tail_lines, job.limit_bytes) == ("cart-1", True, 5, 1000)
    core.on_fetched(LogFetched(job.job_id, CRASH_LOG))
    answers = {r["request_id"]: r["status"] for r in results(core)}
    assert answers == {"full": "rejected", "late": "deadline_exceeded", "x": "unsupported",
                       "bad": "failed", "ok": "ok"}
    assert len(results(core)) == 5
    (ok,) = [r for r in results(core) if r["request_id"] == "ok"]
    assert ok["payload"] == CRASH_LOG
    assert not ok["truncated"]
    (logs,) = [record for kind, record in core.outputs if kind == "logs"]
    assert logs["request_id"] == "ok"
    assert logs["lines"][-1] == "ValueError: bad payload"
    assert [e["error"]["error_type"] for e in logs["errors"]] == ["LogError", "ValueError"]
    assert core.counters["duplicate_requests"] == 1
    assert core.counters["bad_commands"] == 2


def test_a_deadline_passing_in_flight_answers_once_and_the_late_result_is_dropped():
    core, clock = make()
    core.on_command(tail("slow", (clock.now + 5) * 1000))             # milliseconds work too
    (job,) = core.next_jobs(2)
    assert core.expire() == 0
    clock.now += 6
    assert core.expire() == 1
    core.on_fetched(LogFetched(job.job_id, b"too late\n"))
    assert [r["status"] for r in results(core)] == ["deadline_exceeded"]
    assert core.counters["late_results"] == 1
    assert not [kind for kind, _ in core.outputs if kind == "logs"]


def test_a_failed_tail_is_answered_failed_and_a_queued_expired_tail_never_starts():
    core, clock = make()
    core.on_command(tail("gone", clock.now + 10))
    core.on_command(tail("queued", clock.now + 1))
    (first,) = core.next_jobs(1)
    core.on_fetched(LogFetched(first.job_id, error="404 NotFound: pods \"cart-1\" not found",
                               code=404))
    clock.now += 2
    core.expire()
    assert core.next_jobs(2) == []
    assert [(r["request_id"], r["status"]) for r in results(core)] == [
        ("gone", "failed"), ("queued", "deadline_exceeded")]


def test_crash_signals_capture_previous_and_current_once_with_errors_found():
    core, _ = make()
    signal = {"signal": "CrashLoopBackOff", "state": "firing", "kind": "Pod",
              "namespace": "shop", "name": "cart-1", "uid": "u1", "container": "app"}
    assert core.on_signals([signal, {**signal, "signal": "ContainerError"}]) == 2
    jobs = core.next_jobs(4)
    assert [(j.previous, j.reason) for j in jobs] == [(True, "CrashLoopBackOff"),
                                                     (False, "CrashLoopBackOff")]
    core.on_fetched(LogFetched(jobs[0].job_id, CRASH_LOG + b"x" * 1000))
    core.on_fetched(LogFetched(jobs[1].job_id, error="400 BadRequest: waiting", code=400))
    (previous, current) = [record for kind, record in core.outputs if kind == "logs"]
    assert previous["previous"]
    assert previous["truncated"]
    assert previous["errors"]
    assert previous["pod_uid"] == "u1"
    assert previous["request_id"] == ""
    assert current["error"].startswith("400")
    assert current["lines"] == []
    assert core.busy() == 0
    assert core.planner.counters["finished"] == 2
    assert not results(core)
