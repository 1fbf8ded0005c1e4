"""Per-command results are gathered into one answer per request, in order, idempotent on retry."""

from __future__ import annotations

from actors.commands.answers import ShellRequestTracker, kube_path_answer, shell_outcome
from actors.commands.k8s_request import KubeGetResult
from actors.commands.shell_executor_adapter import ShellRunResult
from messages import codec


def result(sub_id: str, stdout: str) -> ShellRunResult:
    return ShellRunResult(request_id=sub_id, command="echo", outcome="completed", exit_code=0,
                          stdout=stdout)


def test_results_arriving_out_of_order_make_one_ordered_answer():
    tracker = ShellRequestTracker()
    work, cached = tracker.begin("req", ("echo a", "echo b", "echo c"))
    assert cached is None
    assert work == [("req#0", "echo a"), ("req#1", "echo b"), ("req#2", "echo c")]
    assert tracker.record(result("req#2", "c")) is None
    assert tracker.record(result("req#0", "a")) is None
    answer = tracker.record(result("req#1", "b"))
    assert answer is not None
    assert [r.stdout for r in answer.results] == ["a", "b", "c"]
    assert codec.decode(codec.encode(answer)) == answer
    assert tracker.in_flight() == 0


def test_duplicates_and_retries_are_idempotent():
    tracker = ShellRequestTracker(remember=1)
    work, _ = tracker.begin("r1", ("echo a",))
    assert tracker.begin("r1", ("echo a",)) == ([], None)       # in flight: not started twice
    answer = tracker.record(result(work[0][0], "a"))
    assert tracker.begin("r1", ("echo a",)) == ([], answer)     # retry: same answer
    assert tracker.record(result("r1#0", "late duplicate")) is None
    assert tracker.record(result("unknown#0", "x")) is None
    tracker.begin("r2", ("echo b",))
    tracker.record(result("r2#0", "b"))
    assert tracker.begin("r1", ("echo a",))[0] == [("r1#0", "echo a")]  # forgotten: bounded
    empty = tracker.begin("r3", ())[1]
    assert empty is not None
    assert empty.error == "no commands"


def test_conversions_keep_every_field():
    outcome = shell_outcome(ShellRunResult(request_id="x", command="c", outcome="timeout",
                                           note="killed", truncated=True))
    assert (outcome.exit_code, outcome.note, outcome.truncated) == (-1, "killed", True)
    answer = kube_path_answer(KubeGetResult(api_path="/version", success=True, status_code=200,
                                            body="{}", note="n"))
    assert (answer.api_path, answer.status_code, answer.body, answer.note) == (
        "/version", 200, "{}", "n")
