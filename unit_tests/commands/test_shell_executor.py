"""The executor runs allowed commands, scrubs the environment, kills process groups, caps output,
bounds its queue, honours deadlines and correlates answers by request id."""

from __future__ import annotations

import shutil
import threading

import pytest

from actors.commands.audit import AuditLog
from actors.commands.settings import ProgramRule
from actors.commands.shell_executor_adapter import ShellExecutor, scrubbed_environment
from unit_tests.commands.helpers import Collector, make_settings, pid_alive, wait_dead, write_script

SPAWNER = """#!/bin/sh
# leader: starts a grandchild in the same process group, records both pids, then waits or exits
sleep 300 &
echo "$$ $!" > pids
echo started
if [ "$1" = "wait" ]; then sleep 300; fi
"""


def run_one(executor: ShellExecutor, command: str, timeout_s: float | None = None):
    collector = Collector()
    executor.submit(request_id="r1", command=command, on_done=collector, timeout_s=timeout_s)
    (result,) = collector.wait(1)
    return result


@pytest.fixture
def executor_for(tmp_path):
    started: list[ShellExecutor] = []

    def build(**overrides) -> ShellExecutor:
        executor = ShellExecutor(make_settings(tmp_path, **overrides), environ={})
        executor.start()
        started.append(executor)
        return executor

    yield build
    for executor in started:
        executor.close()


def test_allowed_commands_run_and_answer_with_output(executor_for):
    executor = executor_for()
    result = run_one(executor, "echo hello world")
    assert (result.outcome, result.exit_code, result.stdout) == ("completed", 0, "hello world\n")
    result = run_one(executor, "printf '%s-%s' a b")
    assert result.stdout == "a-b"
    result = run_one(executor, "printf 'semi;colon'")
    assert result.outcome == "refused"


def test_quoted_arguments_reach_the_program_literally(executor_for):
    result = run_one(executor_for(), "echo 'two  spaces' \"double q\"")
    assert result.stdout == "two  spaces double q\n"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_kubectl_client_version_runs(executor_for):
    result = run_one(executor_for(), "kubectl version --client")
    assert result.outcome == "completed"
    assert result.exit_code == 0
    assert "Client Version" in result.stdout


def test_environment_is_scrubbed(tmp_path):
    environ = {"AUTH_TOKEN": "jwt", "KUBERNETES_SERVICE_HOST": "10.0.0.1", "DD_API_KEY": "k",
               "AWS_SECRET_ACCESS_KEY": "s", "KUBERNETES_SERVICE_PORT": "443", "HOME": "/root",
               "LD_PRELOAD": "x.so", "PATH": "/evil"}
    settings = make_settings(tmp_path, extra_rules=(ProgramRule(program="env",
                                                                max_positionals=0),))
    executor = ShellExecutor(settings, environ=environ)
    executor.start()
    try:
        result = run_one(executor, "env")
    finally:
        executor.close()
    seen = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert seen == {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
                    "LC_ALL": "C.UTF-8", "HOME": str(tmp_path),
                    "KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    assert run_one_refused(tmp_path, "env touch x")


def run_one_refused(tmp_path, command: str) -> bool:
    settings = make_settings(tmp_path, extra_rules=(ProgramRule(program="env",
                                                                max_positionals=0),))
    executor = ShellExecutor(settings, environ={})
    return bool(run_one(executor, command).outcome == "refused")


def test_credentials_in_settings_are_never_passed(tmp_path):
    settings = make_settings(tmp_path, env_passthrough=("GITHUB_TOKEN", "KUBERNETES_SERVICE_HOST"),
                             extra_env={"MY_SECRET": "x", "KUBECONFIG": "kc"})
    env = scrubbed_environment(settings, {"GITHUB_TOKEN": "t", "KUBERNETES_SERVICE_HOST": "h"})
    assert "GITHUB_TOKEN" not in env
    assert "MY_SECRET" not in env
    assert env["KUBECONFIG"] == "kc"
    assert env["KUBERNETES_SERVICE_HOST"] == "h"
    assert {key for key, _ in settings.problems()} == {"env_passthrough"}


def test_timeout_kills_the_whole_process_group(tmp_path, executor_for):
    write_script(tmp_path, "spawner", SPAWNER)
    executor = executor_for(bin_dir=tmp_path,
                            extra_rules=(ProgramRule(program="spawner", max_positionals=1),))
    result = run_one(executor, "spawner wait", timeout_s=1.0)
    leader, grandchild = (int(pid) for pid in (tmp_path / "pids").read_text().split())
    assert result.outcome == "timeout"
    assert result.exit_code is None
    assert "process group was killed" in result.note
    assert result.stdout == "started\n"
    assert wait_dead([leader, grandchild])


def test_leftover_children_are_killed_when_the_leader_exits(tmp_path, executor_for):
    write_script(tmp_path, "spawner", SPAWNER)
    executor = executor_for(bin_dir=tmp_path,
                            extra_rules=(ProgramRule(program="spawner", max_positionals=1),))
    result = run_one(executor, "spawner exit", timeout_s=30.0)
    leader, grandchild = (int(pid) for pid in (tmp_path / "pids").read_text().split())
    assert (result.outcome, result.exit_code) == ("completed", 0)
    assert wait_dead([leader, grandchild])
    assert not pid_alive(grandchild)


def test_output_cap_truncates_with_a_note_and_stops_the_process(tmp_path, executor_for):
    executor = executor_for(output_cap_bytes=10_000,
                            extra_rules=(ProgramRule(program="yes", max_positionals=1),))
    result = run_one(executor, "yes spam", timeout_s=30.0)
    assert result.outcome == "output_capped"
    assert result.truncated
    assert 0 < len(result.stdout) + len(result.stderr) <= 10_000
    assert result.stdout.startswith("spam\nspam\n")
    assert "truncated at 10000 bytes" in result.note


def test_answers_correlate_by_request_id_under_100_concurrent_requests(tmp_path, executor_for):
    executor = executor_for(concurrency=4, queue_depth=128)
    collector = Collector()

    def send(first: int) -> None:
        for index in range(first, first + 25):
            executor.submit(request_id=f"req-{index}", command=f"echo payload-{index}",
                            on_done=collector, timeout_s=60.0)

    senders = [threading.Thread(target=send, args=(base,)) for base in range(0, 100, 25)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(timeout=30)
    results = collector.wait(100, timeout_s=60)
    assert len(results) == 100
    assert sorted(r.request_id for r in results) == sorted(f"req-{i}" for i in range(100))
    for result in results:
        assert result.outcome == "completed", result.note
        assert result.stdout == f"payload-{result.request_id.split('-')[1]}\n"


def test_a_flood_gets_queue_full_answers_and_every_request_one_answer(tmp_path):
    settings = make_settings(tmp_path, concurrency=1, queue_depth=2)
    executor = ShellExecutor(settings, environ={})
    collector = Collector()
    for index in range(8):  # workers not started yet: the queue fills deterministically
        executor.submit(request_id=f"f{index}", command="sleep 0", on_done=collector)
    executor.start()
    results = collector.wait(8)
    executor.close()
    outcomes = sorted(r.outcome for r in results)
    assert outcomes == ["completed"] * 2 + ["queue_full"] * 6
    assert sorted(r.request_id for r in results) == [f"f{i}" for i in range(8)]


def test_a_request_past_its_deadline_is_answered_and_never_run(tmp_path):
    now = [1000.0]
    audit = AuditLog()
    executor = ShellExecutor(make_settings(tmp_path), environ={}, clock=lambda: now[0],
                             audit=audit)
    collector = Collector()
    executor.submit(request_id="late", command="echo should-not-run", on_done=collector,
                    timeout_s=5.0)
    now[0] += 6.0  # the request waited in the queue past its deadline
    executor.start()
    (result,) = collector.wait(1)
    executor.close()
    assert (result.request_id, result.outcome, result.stdout) == ("late", "deadline", "")
    assert audit.snapshot()["accepted"] == 1


def test_waiting_requests_expire_while_every_worker_is_busy(tmp_path):
    executor = ShellExecutor(make_settings(tmp_path, concurrency=1), environ={})
    collector = Collector()
    executor.start()
    try:
        executor.submit(request_id="busy", command="sleep 30", on_done=collector, timeout_s=60)
        executor.submit(request_id="late", command="echo late", on_done=collector,
                        timeout_s=0.3)
        (first,) = collector.wait(1)
        assert (first.request_id, first.outcome) == ("late", "deadline")
        assert executor.stats()["running"] == 1
    finally:
        executor.close()
    results = collector.wait(2)
    assert (results[1].request_id, results[1].outcome) == ("busy", "cancelled")
    assert executor.stats()["outcomes"] == {"deadline": 1, "cancelled": 1}


def test_close_answers_queued_requests_as_cancelled(tmp_path):
    executor = ShellExecutor(make_settings(tmp_path), environ={})
    collector = Collector()
    executor.submit(request_id="q1", command="echo hi", on_done=collector)
    executor.close()
    executor.submit(request_id="q2", command="echo hi", on_done=collector)
    assert [(r.request_id, r.outcome) for r in collector.wait(2)] == [
        ("q1", "cancelled"), ("q2", "cancelled")]


def test_capped_secret_yaml_output_is_still_redacted(tmp_path, executor_for):
    items = "".join(f"- apiVersion: v1\n  data:\n    key{i}: c2VjcmV0LXZhbHVl\n"
                    f"  kind: Secret\n" for i in range(500))
    write_script(tmp_path, "kubectl", f"#!/bin/sh\ncat <<'EOF'\napiVersion: v1\nitems:\n"
                                      f"{items}kind: List\nEOF\n")
    executor = executor_for(bin_dir=tmp_path, output_cap_bytes=3000)
    result = run_one(executor, "kubectl get secrets -A -o yaml")
    assert result.truncated
    assert "key0: <redacted>" in result.stdout
    assert "c2VjcmV0" not in result.stdout


def test_kubectl_secret_yaml_output_is_redacted(tmp_path, executor_for):
    fake_kubectl = """#!/bin/sh
cat <<'EOF'
apiVersion: v1
data:
  password: c3VwZXJzZWNyZXQ=
kind: Secret
metadata:
  name: db
type: Opaque
EOF
"""
    write_script(tmp_path, "kubectl", fake_kubectl)
    executor = executor_for(bin_dir=tmp_path)
    result = run_one(executor, "kubectl get secret db -o yaml")
    assert result.outcome == "completed"
    assert "c3VwZXJzZWNyZXQ=" not in result.stdout
    assert "password: <redacted>" in result.stdout
    assert "1 Secret value(s) redacted" in result.note
