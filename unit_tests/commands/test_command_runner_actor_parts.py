"""The command runner's logic pieces: args parsing, ledger, call pool, settings, result shapes."""

from __future__ import annotations

import threading

import msgpack
import pytest

from actors.commands import command_results as results
from actors.commands.call_pool import EXPIRED, CallPool, QueueFullError
from actors.commands.cilium_request import FlowQuery, HubbleQueryError
from actors.commands.command_args import (
    ArgsProblem,
    CiliumArgs,
    KubeGetArgs,
    ShellArgs,
    parse_command,
)
from actors.commands.command_book import Admission, CommandBook
from actors.commands.hubble_query_adapter import observe_request
from actors.commands.runner_settings import RunnerSettings, kube_endpoint, runner_settings
from actors.commands.shell_arg_patterns import ArgPatterns, compile_patterns
from actors.commands.shell_executor_adapter import ShellRunResult
from actors.runtime.registry import default_registry


def test_wire_shaped_k8s_request_becomes_a_get_path_with_its_query():
    envelope = parse_command({"request_id": "r1", "kind": "k8s_request", "deadline_unix": 5,
                              "args": {"method": "GET", "path": "/api/v1/pods",
                                       "query": {"limit": "5", "labelSelector": "app=a b"}}})
    assert not isinstance(envelope, ArgsProblem)
    assert envelope.kind == "k8s_get"
    assert envelope.args == KubeGetArgs("/api/v1/pods?limit=5&labelSelector=app%3Da%20b")


@pytest.mark.parametrize(("args", "code"), [
    ({"method": "DELETE", "path": "/api/v1/pods"}, "method_not_allowed"),
    ({"path": "/api/v1/pods", "body": b"x"}, "bad_args"),
    ({"path": 7}, "bad_args"),
    ({}, "bad_args"),
])
def test_bad_k8s_args_are_problems_not_crashes(args, code):
    envelope = parse_command({"request_id": "r", "kind": "k8s_get", "args": args})
    assert not isinstance(envelope, ArgsProblem)
    assert isinstance(envelope.args, ArgsProblem)
    assert envelope.args.code == code


def test_records_without_an_id_and_unknown_kinds():
    assert isinstance(parse_command({"kind": "shell"}), ArgsProblem)
    assert isinstance(parse_command(["not", "a", "map"]), ArgsProblem)
    envelope = parse_command({"request_id": "x", "kind": "format_disk", "args": {}})
    assert not isinstance(envelope, ArgsProblem)
    assert isinstance(envelope.args, ArgsProblem)
    assert envelope.args.code == "unknown_kind"
    shell = parse_command({"request_id": "s", "kind": "shell", "args": {"command": "echo a"}})
    assert not isinstance(shell, ArgsProblem)
    assert shell.args == ShellArgs("echo a")


def test_cilium_wire_query_strings_become_flow_filters():
    envelope = parse_command({"request_id": "c", "kind": "cilium_request",
                              "args": {"path": "observe", "query": {
                                  "number": "20", "namespaces": "a, b", "ports": "80,443"}}})
    assert not isinstance(envelope, ArgsProblem)
    assert envelope.args == CiliumArgs("observe", {"number": 20, "namespaces": ["a", "b"],
                                                   "ports": [80, 443]})
    resources = parse_command({"request_id": "c2", "kind": "cilium",
                               "args": {"op": "resources", "kind": "cnp",
                                        "namespace": "default"}})
    assert not isinstance(resources, ArgsProblem)
    assert isinstance(resources.args, CiliumArgs)
    assert (resources.args.kind, resources.args.namespace) == ("cnp", "default")


def test_the_book_answers_once_expires_in_order_and_caches_retries():
    now = [100.0]
    book = CommandBook(remember=2, wall_clock=lambda: now[0])
    book.start("a", "shell", 105.0)
    book.start("b", "shell", 101.0)
    assert book.admit("a") == (Admission.PENDING, None)
    assert book.next_deadline() == 101.0
    now[0] = 102.0
    assert book.expired() == ["b"]
    assert book.answer("b", {"status": "deadline_exceeded"})
    assert not book.answer("b", {"status": "ok"})           # the late result
    assert book.late_results == 1
    assert book.admit("b") == (Admission.ANSWERED, {"status": "deadline_exceeded"})
    book.remember("c", {})
    book.remember("d", {})
    assert book.admit("b")[0] is Admission.NEW              # evicted: bounded cache
    assert book.next_deadline() == 105.0


def test_the_call_pool_is_bounded_expires_waiting_calls_and_survives_errors():
    clock = [0.0]
    pool = CallPool(workers=1, depth=1, clock=lambda: clock[0])
    done: list[tuple[str, object]] = []
    gate = threading.Event()
    pause = threading.Event()

    def blocked(left):
        gate.wait(5.0)
        clock[0] = 50.0                     # time passes while the first call runs
        raise RuntimeError("boom")

    def wait_for(predicate):
        for _ in range(500):
            if predicate():
                return
            pause.wait(0.01)

    pool.start()
    try:
        pool.submit("first", 10.0, blocked, lambda rid, outcome: done.append((rid, outcome)))
        wait_for(lambda: pool.stats()["running"] == 1)
        pool.submit("second", 10.0, lambda left: "never",
                    lambda rid, outcome: done.append((rid, outcome)))
        with pytest.raises(QueueFullError):
            pool.submit("third", 10.0, lambda left: "never", lambda rid, outcome: None)
        gate.set()
        wait_for(lambda: len(done) >= 2)
    finally:
        gate.set()
        pool.close(timeout_s=2.0)
    outcomes = dict(done)
    assert isinstance(outcomes["first"], RuntimeError)
    assert outcomes["second"] == EXPIRED


def test_runner_settings_accept_the_chart_keys_and_refuse_regex_rules():
    registry = default_registry()
    component = registry.get("command_runner")
    assert component is not None
    values = {**component.defaults(), "safe_apply": True, "timeout_s": 300.0,
              "extra_shell_allowlist": [{"program": "echo", "max_positionals": 4}]}
    typed, errors = runner_settings(values)
    assert errors == []
    assert typed.commands.safe_apply
    assert typed.commands.max_timeout_s == 300.0
    assert "echo" in typed.commands.allowlist
    assert "kubectl" in typed.commands.allowlist
    bad = {**values, "extra_shell_allowlist": [{"program": "rm", "args": ["(unclosed"]}],
           "api_url": 5}
    problems = dict(component.check(bad)) if component.check else {}
    assert "extra_shell_allowlist[0].args" in problems
    assert "api_url" in problems


def test_plain_http_api_urls_only_for_loopback():
    loopback = RunnerSettings(commands=runner_settings({})[0].commands,
                              api_url="http://127.0.0.1:6443")
    assert kube_endpoint(loopback, {}).allow_plain_http
    remote = RunnerSettings(commands=loopback.commands, api_url="http://10.0.0.1:6443")
    with pytest.raises(ValueError, match="loopback"):
        kube_endpoint(remote, {})
    with pytest.raises(ValueError, match="KUBERNETES_SERVICE_HOST"):
        kube_endpoint(RunnerSettings(commands=loopback.commands), {})


def test_shell_results_map_to_cloud_statuses():
    ran = ShellRunResult(request_id="r", command="echo", outcome="completed", exit_code=3,
                         stdout="x")
    record = results.shell_record("r", ran)
    assert (record["status"], record["error"]) == ("failed", "exit code 3")
    assert msgpack.unpackb(record["payload"])["exit_code"] == 3
    busy = results.shell_record("r", ShellRunResult(request_id="r", command="x",
                                                    outcome="queue_full", note="full"))
    assert busy["status"] == "rejected"
    assert busy["error"].startswith("busy:")


def test_regex_argument_patterns_only_narrow_the_policy():
    compiled, problem = compile_patterns([r"^\.[a-z.]*$", "^-r$"])
    assert problem == ""
    patterns = ArgPatterns({"jq": compiled})
    assert patterns.refusal("jq .items.name") is None
    assert patterns.refusal("jq -r .items") is None
    assert "matches none" in (patterns.refusal("jq .items /etc/passwd") or "")
    assert patterns.refusal("kubectl get pods") is None        # not a pattern program
    assert compile_patterns("^x$")[1]                          # a string, not a list
    assert compile_patterns(["x" * 300])[1]


def test_flow_queries_map_to_relay_filters_like_the_hubble_cli():
    either = observe_request(FlowQuery(number=7, namespaces=("shop",), ports=(443,),
                                       verdicts=("DROPPED",), since_s=60), now=1000.0)
    assert either.number == 7
    assert not either.follow
    assert either.since.ToNanoseconds() == 940 * 10**9
    source, destination = either.whitelist
    assert list(source.source_pod) == ["shop/"]
    assert list(source.source_port) == ["443"]
    assert list(destination.destination_pod) == ["shop/"]
    assert list(source.verdict) == list(destination.verdict) == [2]
    directed = observe_request(FlowQuery(from_pods=("a/web",), protocols=("tcp",)), now=0.0)
    (only,) = directed.whitelist
    assert (list(only.source_pod), list(only.protocol)) == (["a/web"], ["tcp"])
    assert list(observe_request(FlowQuery(), now=0.0).whitelist) == []
    with pytest.raises(HubbleQueryError, match="not both"):
        observe_request(FlowQuery(pods=("a/b",), to_pods=("c/d",)), now=0.0)
