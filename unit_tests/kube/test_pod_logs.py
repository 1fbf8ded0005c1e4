"""Log capture planning on incidents, and error-line / stack-trace detection as a table."""

import pytest

from actors.kube.incident_monitors import IncidentMonitors
from actors.kube.log_errors import MAX_TRACE_LINES, parse_log
from actors.kube.pod_logs import LogCapturePlanner, choose_streams
from actors.kube.settings import KubeSettings
from unit_tests.kube import k8s_objects as k


class Clock:
    now = 1_800_000_000.0

    def __call__(self):
        return self.now


def crashloop_pod():
    return k.pod("web-1", "shop", ready=False, statuses=[k.container_status(
        "app", ready=False, restarts=4,
        state={"waiting": {"reason": "CrashLoopBackOff"}},
        last={"terminated": {"exitCode": 1, "reason": "Error", "containerID": "c4",
                             "finishedAt": "2020-01-01T00:00:00Z"}})])


def test_crashloop_plans_previous_and_current_container_once():
    clock = Clock()
    settings = KubeSettings(log_tail_lines=50, log_limit_bytes=4096, log_capture_concurrency=1)
    monitors = IncidentMonitors(settings, clock)
    planner = LogCapturePlanner(settings, clock)
    signals = monitors.observe("pods", "ADDED", crashloop_pod())
    assert [s["signal"] for s in signals] == ["CrashLoopBackOff"]
    assert planner.on_signals(signals) == 2
    first = planner.next_requests()
    assert len(first) == 1                              # concurrency cap
    assert first[0].previous is True
    assert first[0].container == "app"
    assert (first[0].tail_lines, first[0].limit_bytes) == (50, 4096)
    assert planner.next_requests() == []
    planner.finished(first[0])
    (second,) = planner.next_requests()
    assert second.previous is False
    # the same incident again (next back-off, or the ContainerError of that restart): no capture
    clock.now += 30
    again = [dict(signals[0]), {**signals[0], "signal": "ContainerError", "state": "occurred"}]
    assert planner.on_signals(again) == 0
    assert planner.counters["deduplicated"] == 2
    clock.now += 601                                    # after the cooldown it may capture again
    assert planner.on_signals(signals) == 2


def test_signals_without_logs_or_resolved_plan_nothing_and_queue_is_bounded():
    clock = Clock()
    planner = LogCapturePlanner(KubeSettings(log_capture_queue=3), clock,
                                containers_of=lambda ns, pod: ["app", "sidecar"])
    base = {"kind": "Pod", "namespace": "shop", "name": "p", "uid": "u", "container": "app"}
    assert planner.on_signals([{**base, "signal": "ImagePullFailure", "state": "firing"},
                               {**base, "signal": "CrashLoopBackOff", "state": "resolved"},
                               {**base, "kind": "Node", "signal": "NodeNotReady",
                                "state": "firing"}]) == 0
    queued = planner.on_signals([{**base, "container": "", "uid": "u2", "signal": "PodFailed",
                                  "state": "firing"},
                                 {**base, "uid": "u3", "signal": "OOMKilled",
                                  "state": "occurred"}])
    assert queued == 3
    assert planner.counters["dropped"] == 1
    assert [(r.container, r.previous) for r in planner.queue] == [
        ("app", False), ("sidecar", False), ("app", True)]


def test_streams_only_for_labelled_namespaces_with_a_cap():
    settings = KubeSettings(log_stream_max_streams=3)
    pods = [{"namespace": ns, "name": f"p{i}", "phase": phase, "containers": ["a", "b"]}
            for i, (ns, phase) in enumerate([("dev", "Running"), ("prod", "Running"),
                                             ("dev", "Pending"), ("dev", "Running")])]
    labels = {"dev": {"kestrel.ai/stream-logs": "true"}, "prod": {}}
    assert choose_streams(labels, pods, settings) == [
        ("dev", "p0", "a"), ("dev", "p0", "b"), ("dev", "p3", "a")]
    assert choose_streams({"prod": {}}, pods, settings) == []


PY_TRACE = """starting worker
Traceback (most recent call last):
  File "/app/main.py", line 10, in <module>
    main()
  File "/app/main.py", line 7, in main
    raise ValueError("bad config")
ValueError: bad config
next line"""

JAVA_TRACE = """Exception in thread "main" java.lang.IllegalStateException: boom
\tat com.acme.App.run(App.java:42)
\tat com.acme.App.main(App.java:10)
Caused by: java.io.IOException: connection reset
\tat com.acme.Net.read(Net.java:5)
\t... 2 more
INFO shutting down"""

GO_PANIC = """panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a]

goroutine 1 [running]:
main.handler(0x0)
\t/src/main.go:12 +0x1d
main.main()
\t/src/main.go:20 +0x25
exit status 2
level=info msg=restarted"""


@pytest.mark.parametrize(("text", "expected"), [
    ("plain info line", [("INFO", None)]),
    ('{"level":"error","msg":"db down"}', [("ERROR", "LogError")]),
    ('{"severity":"WARNING","msg":"slow"}', [("WARN", None)]),
    ("ts=1 level=error msg=\"connection refused\"", [("ERROR", "LogError")]),
    ("E1126 04:27:29.123456 1 reflector.go:1] failed", [("ERROR", "LogError")]),
    ("W1126 04:27:29.123456 1 x.go:1] slow", [("WARN", None)]),
    ("2026 [error] upstream timed out", [("ERROR", "LogError")]),
    ("FATAL: could not start", [("FATAL", "LogError")]),
    ("got NullPointerException somewhere", [("ERROR", "LogError")]),
    ("DEBUG cache hit", [("DEBUG", None)]),
    (PY_TRACE, [("INFO", None), ("ERROR", "ValueError"), ("INFO", None)]),
    (JAVA_TRACE, [("ERROR", "IllegalStateException"), ("INFO", None)]),
    (GO_PANIC, [("FATAL", "GoPanic"), ("INFO", None)]),
    ("java.lang.RuntimeException: alone, no frames", [("ERROR", "LogError")]),
])
def test_error_detection_table(text, expected):
    entries = parse_log(text)
    assert [(e["level"], e["error"]["error_type"] if e["error"] else None)
            for e in entries] == expected


def test_traces_are_grouped_with_their_frames():
    (_, py, _) = parse_log(PY_TRACE)
    assert py["line_number"] == 2
    assert py["message"] == "ValueError: bad config"
    assert py["error"]["error_message"] == "bad config"
    assert py["error"]["stack_trace"].count("\n") == 5
    java = parse_log(JAVA_TRACE)[0]
    assert "Caused by: java.io.IOException" in java["error"]["stack_trace"]
    go = parse_log(GO_PANIC)[0]
    assert go["error"]["category"] == "NullPointer"
    assert go["error"]["stack_trace"].endswith("exit status 2")


def test_timestamps_prefix_and_trace_bound():
    text = "2026-11-26T04:00:00.123456789Z hello\n2026-11-26T04:00:01Z ERROR x"
    a, b = parse_log(text, timestamps=True)
    assert a["timestamp"] == "2026-11-26T04:00:00.123456789Z"
    assert a["message"] == "hello"
    assert b["level"] == "ERROR"
    long_trace = "panic: x\n" + "\n".join(f"main.f{i}()\n\t/src/a.go:{i} +0x1"
                                          for i in range(100))
    (entry,) = parse_log(long_trace)
    assert entry["error"]["stack_trace"].count("\n") == MAX_TRACE_LINES - 1
