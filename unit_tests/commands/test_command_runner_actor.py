"""The command runner actor on simpleSystemBase, fed by a fake uplink over a request link."""

from __future__ import annotations

import collections

import pytest

from actors.runtime.thespian_system import OperatorSystem
from unit_tests.commands.actor_support import (
    RUNNER_ID,
    TEST_ALLOWLIST,
    counters,
    read_results,
    runner_topology,
)


@pytest.fixture
def system():
    started = OperatorSystem()
    yield started
    started.shutdown(timeout_s=5.0, drain_s=0.0)


def runner_settings(tmp_path, **overrides):
    allowlist = [*TEST_ALLOWLIST, {"program": "printf", "args": ["^[a-z]+$"]}]
    settings = {"audit_path": str(tmp_path / "audit.log"),
                "extra_shell_allowlist": allowlist, "timeout_s": 10.0,
                "concurrency": 2, "queue_depth": 16}
    settings.update(overrides)
    return settings


def run_until(system, path, count, seconds=8.0, step=0.05):
    """Pump the simple system until ``count`` results were recorded (bounded)."""
    for _ in range(int(seconds / step)):
        found = read_results(path)
        if len(found) >= count:
            return found
        system.run_for(step)
    return read_results(path)


def start(system, tmp_path, commands, runner=None, **uplink):
    path = tmp_path / "results.jsonl"
    settings = {"commands": commands, "path": str(path), **uplink}
    system.start(runner_topology(runner or runner_settings(tmp_path), settings),
                 base="simpleSystemBase")
    return path


def by_id(results):
    answers = collections.defaultdict(list)
    for result in results:
        answers[result["request_id"]].append(result)
    return answers


def test_every_kind_is_answered_exactly_once_with_its_id(system, tmp_path):
    marker = tmp_path / "marker"
    commands = [
        {"request_id": "echo-1", "kind": "shell", "args": {"command": "echo hello world"}},
        {"request_id": "inject-1", "kind": "shell",
         "args": {"command": f"echo hi; touch {marker}"}},
        {"request_id": "inject-2", "kind": "shell",
         "args": {"command": f"echo $(touch {marker})"}},
        {"request_id": "inject-3", "kind": "shell", "args": {"command": f"touch {marker}"}},
        {"request_id": "printf-ok", "kind": "shell", "args": {"command": "printf abc"}},
        {"request_id": "printf-bad", "kind": "shell", "args": {"command": "printf ABC"}},
        {"request_id": "apply-1", "kind": "yaml_apply",
         "args": {"yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"}},
        {"request_id": "dry-1", "kind": "yaml_dry_run",
         "args": {"yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
                  "namespace": "default"}},
        {"request_id": "hubble-1", "kind": "cilium", "args": {"op": "status"}},
        {"request_id": "k8s-1", "kind": "k8s_get", "args": {"path": "/api/v1/pods"}},
        {"request_id": "k8s-bad", "kind": "k8s_get", "args": {"query": {"limit": 1}}},
        {"request_id": "k8s-exec", "kind": "k8s_request",
         "args": {"path": "/api/v1/namespaces/a/pods/b/exec"}},
        {"request_id": "mystery-1", "kind": "launch_rockets", "args": {}},
        {"kind": "shell", "args": {"command": "echo no id"}},
    ]
    path = start(system, tmp_path, commands, batch_size=4)
    results = run_until(system, path, 13)
    system.run_for(0.2)
    answers = by_id(read_results(path))
    assert sorted(answers) == sorted(str(c["request_id"]) for c in commands if "request_id" in c)
    assert all(len(found) == 1 for found in answers.values())
    one = {rid: found[0] for rid, found in answers.items()}
    assert one["echo-1"]["status"] == "ok"
    assert one["echo-1"]["payload"]["stdout"] == "hello world\n"
    for rid in ("inject-1", "inject-2", "inject-3"):
        assert one[rid]["status"] == "rejected", one[rid]
        assert one[rid]["error"].startswith("refused: ")
    assert not marker.exists()
    assert one["printf-ok"]["payload"]["stdout"] == "abc"
    assert one["printf-bad"]["status"] == "rejected"
    assert one["printf-bad"]["error"].startswith("refused: arg_pattern: ")
    for rid in ("apply-1", "dry-1"):
        assert one[rid]["status"] == "rejected"
        assert "safe_apply_disabled" in one[rid]["error"]
    assert one["hubble-1"]["status"] == "failed"
    assert "hubble not configured" in one["hubble-1"]["error"]
    assert one["k8s-1"]["status"] == "failed"          # no API server in this test
    assert "not configured" in one["k8s-1"]["error"]
    assert one["k8s-bad"]["status"] == "rejected"
    assert one["k8s-exec"]["status"] == "rejected"
    assert "forbidden_subresource" in one["k8s-exec"]["error"]
    assert one["mystery-1"]["status"] == "unsupported"
    assert len(results) >= 13
    stats = counters(system.status(2.0), RUNNER_ID)
    assert stats["commands_refused_unknown_kind_total"] == 1
    assert stats["commands_refused_shell_metacharacter_total"] == 2
    assert stats["commands_refused_safe_apply_disabled_total"] == 2
    assert stats["unanswerable_records_total"] == 1
    assert stats["commands_in_flight"] == 0


def test_deadlines_are_answered_not_dropped(system, tmp_path):
    commands = [
        {"request_id": "late-on-arrival", "kind": "shell", "args": {"command": "echo x"},
         "deadline_in_s": -1.0},
        {"request_id": "runs-too-long", "kind": "shell", "args": {"command": "sleep 5"},
         "deadline_in_s": 0.6},
        {"request_id": "blocker", "kind": "shell", "args": {"command": "sleep 0.4"},
         "deadline_in_s": 6.0},
        {"request_id": "waits-too-long", "kind": "shell", "args": {"command": "echo y"},
         "deadline_in_s": 0.3},
    ]
    settings = runner_settings(tmp_path, concurrency=1)
    path = start(system, tmp_path, commands, runner=settings, batch_size=4)
    answers = by_id(run_until(system, path, 4, seconds=10.0))
    assert sorted(answers) == sorted(str(c["request_id"]) for c in commands)
    for rid in ("late-on-arrival", "runs-too-long", "waits-too-long"):
        (answer,) = answers[rid]
        assert answer["status"] == "deadline_exceeded", answer
        assert answer["error"].startswith("deadline")
    assert answers["blocker"][0]["status"] == "ok"
    stats = counters(system.status(2.0), RUNNER_ID)
    assert stats["commands_deadline_exceeded_total"] == 3


def test_a_flood_is_queued_and_the_excess_answered_busy(system, tmp_path):
    commands = [{"request_id": f"flood-{i}", "kind": "shell",
                 "args": {"command": "sleep 0.3"}, "deadline_in_s": 8.0} for i in range(10)]
    settings = runner_settings(tmp_path, concurrency=1, queue_depth=2)
    path = start(system, tmp_path, commands, runner=settings, batch_size=10)
    answers = by_id(run_until(system, path, 10))
    assert sorted(answers) == sorted(str(c["request_id"]) for c in commands)
    statuses = collections.Counter(found[0]["status"] for found in answers.values())
    assert all(len(found) == 1 for found in answers.values())
    # two queued plus the one running, unless the worker had not taken it off the queue yet
    assert statuses["ok"] in (2, 3)
    assert statuses["rejected"] == 10 - statuses["ok"]
    busy = [found[0] for found in answers.values() if found[0]["status"] == "rejected"]
    assert all(answer["error"].startswith("busy:") for answer in busy)
    assert counters(system.status(2.0), RUNNER_ID)["commands_busy_total"] == statuses["rejected"]


def test_a_retried_request_gets_the_cached_answer_and_runs_once(system, tmp_path):
    commands = [
        {"request_id": "retry-1", "kind": "shell", "args": {"command": "echo once"}},
        {"request_id": "retry-1", "kind": "shell", "args": {"command": "echo once"},
         "after_s": 0.6},
    ]
    path = start(system, tmp_path, commands, batch_size=1)
    found = run_until(system, path, 2)
    assert [r["request_id"] for r in found] == ["retry-1", "retry-1"]
    assert found[0] == found[1]
    audit = (tmp_path / "audit.log").read_text().splitlines()
    assert sum('"request_id":"retry-1"' in line for line in audit) == 1   # ran once
    assert counters(system.status(2.0), RUNNER_ID)["commands_duplicate_total"] == 1


def test_without_result_credit_new_batches_are_held_then_all_answered(system, tmp_path):
    commands = [{"request_id": f"bp-{i}", "kind": "shell", "args": {"command": f"echo {i}"}}
                for i in range(30)]
    path = tmp_path / "results.jsonl"
    uplink = {"commands": commands, "path": str(path), "batch_size": 3,
              "hold_results_s": 1.0, "paced": True}      # one batch of 3 every 50 ms
    system.start(runner_topology(runner_settings(tmp_path), uplink, request_window=2,
                                 result_window=1), base="simpleSystemBase")
    held_seen = 0.0
    for _ in range(40):                          # during the 1 s hold
        system.run_for(0.02)
        stats = counters(system.status(2.0), RUNNER_ID)
        held_seen = max(held_seen, stats.get("held_batches", 0))
        if held_seen:
            break
    assert held_seen >= 1
    answers = by_id(run_until(system, path, 30, seconds=10.0))
    assert sorted(answers) == sorted(str(c["request_id"]) for c in commands)
    assert all(len(found) == 1 and found[0]["status"] == "ok" for found in answers.values())
