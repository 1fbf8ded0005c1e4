"""kubectl conformance of the simulated API server (sim.kubeapi): the real client must work."""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import threading
import time

import pytest

from sim.kubeapi import Churn, KubeApiServer, generate_cluster

KUBECTL = shutil.which("kubectl")
pytestmark = [
    pytest.mark.system,
    pytest.mark.kubectl,
    pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed: skipping the kubectl "
                                               "conformance tests of sim.kubeapi"),
]
TIMESTAMPED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (.*)$")


class Streamed:
    """A running kubectl whose output lines are collected by a reader thread."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True, env=env)
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, predicate, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        for seen in self.lines:
            if predicate(seen):
                return seen
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
            if predicate(line):
                return line
        raise AssertionError(f"no matching line within {timeout}s; got {self.lines}")

    def finish(self, timeout: float = 20.0) -> int:
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=5)
        while (line := self._queue.get_nowait() if not self._queue.empty() else None):
            self.lines.append(line)
        return code

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self._reader.join(timeout=5)


class Kubectl:
    def __init__(self, server: KubeApiServer, directory) -> None:
        self.admin = server.write_kubeconfig(directory / "admin.kubeconfig")
        self.nobody = server.write_kubeconfig(directory / "nobody.kubeconfig",
                                              server.tokens.no_rights)
        self.env = dict(os.environ, HOME=str(directory), KUBECONFIG=str(self.admin))
        self.cache = directory / "cache"

    def _args(self, args, kubeconfig) -> list[str]:
        return [str(KUBECTL), f"--kubeconfig={kubeconfig or self.admin}",
                f"--cache-dir={self.cache}", *args]

    def run(self, *args: str, kubeconfig=None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self._args(args, kubeconfig), capture_output=True, text=True,
                              env=self.env, timeout=timeout, check=False)

    def stream(self, *args: str) -> Streamed:
        return Streamed(self._args(args, None), self.env)


@pytest.fixture(scope="module")
def server():
    with KubeApiServer(generate_cluster("small", seed=1), log_interval_s=0.2,
                       bookmark_interval_s=1.0) as running:
        yield running


@pytest.fixture(scope="module")
def kubectl(server, tmp_path_factory):
    return Kubectl(server, tmp_path_factory.mktemp("kubectl"))


def _pods(server, namespace=None):
    return [p for p in server.ground_truth()["pods"]
            if namespace is None or p["metadata"]["namespace"] == namespace]


def test_get_pods_all_namespaces_lists_the_ground_truth(server, kubectl):
    result = kubectl.run("get", "pods", "-A", "--no-headers")
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    assert {(r[0], r[1]) for r in rows} == {
        (p["metadata"]["namespace"], p["metadata"]["name"]) for p in _pods(server)}
    assert "CrashLoopBackOff" in {r[3] for r in rows}
    policies = kubectl.run("get", "ciliumnetworkpolicies,authorizationpolicies", "-A")
    assert policies.returncode == 0
    assert "allow-same-namespace" in policies.stdout


def test_get_raw_apis_returns_the_group_list(kubectl):
    result = kubectl.run("get", "--raw", "/apis")
    assert result.returncode == 0, result.stderr
    groups = {g["name"] for g in json.loads(result.stdout)["groups"]}
    assert {"apps", "batch", "networking.k8s.io", "events.k8s.io", "coordination.k8s.io",
            "cilium.io", "security.istio.io"} <= groups


def test_token_without_rights_is_forbidden(kubectl):
    denied = kubectl.run("auth", "can-i", "list", "pods", kubeconfig=kubectl.nobody)
    assert (denied.returncode, denied.stdout.strip()) == (1, "no")
    allowed = kubectl.run("auth", "can-i", "list", "pods")
    assert (allowed.returncode, allowed.stdout.strip()) == (0, "yes")
    forbidden = kubectl.run("get", "pods", "-n", "default", kubeconfig=kubectl.nobody)
    assert forbidden.returncode == 1
    assert ('Error from server (Forbidden): pods is forbidden: User '
            '"system:serviceaccount:default:nobody" cannot list resource "pods" in API group '
            '"" in the namespace "default"') in forbidden.stderr


def test_get_pods_watch_sees_live_changes_and_a_410(server, kubectl):
    namespace = "team-01"
    watcher = kubectl.stream("get", "pods", "-n", namespace, "-w")
    churn = Churn(server.store, seed=7)
    try:
        for pod in _pods(server, namespace):
            watcher.wait_for(lambda line, name=pod["metadata"]["name"]: line.startswith(name))
        victim = _pods(server, namespace)[0]["metadata"]["name"]
        churn.crash_loop(namespace, victim)
        watcher.wait_for(lambda line: line.startswith(victim) and "CrashLoopBackOff" in line)
        deploy = next(d for d in server.ground_truth()["deployments.apps"]
                      if d["metadata"]["namespace"] == namespace)["metadata"]["name"]
        before = {p["metadata"]["name"] for p in _pods(server, namespace)}
        churn.scale(namespace, deploy, 4)
        added = {p["metadata"]["name"] for p in _pods(server, namespace)} - before
        for name in added:
            watcher.wait_for(lambda line, name=name: line.startswith(name))
        assert server.faults.expire_watches() == 1
        watcher.wait_for(lambda line: "Expired" in line and "too old resource version" in line)
    finally:
        watcher.stop()


def test_logs_follow_with_timestamps_and_tail_until_the_container_dies(server, kubectl):
    pod = next(p for p in _pods(server, "team-01")
               if len(p["spec"]["containers"]) == 1
               and "running" in p["status"]["containerStatuses"][0]["state"])
    namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    follower = kubectl.stream("logs", "-f", "--timestamps", "--tail=2", "-n", namespace, name)
    try:
        # Two lines from the tail, then lines produced while following.
        follower.wait_for(lambda _line: sum(
            TIMESTAMPED.match(line) is not None for line in follower.lines) >= 4)
        stamps = [line[:30] for line in follower.lines[:4]]
        assert stamps == sorted(stamps)
        assert len(set(stamps)) == 4
        Churn(server.store, seed=3).crash_loop(namespace, name)
        assert follower.finish() == 0  # the stream ends when the container terminates
        last = TIMESTAMPED.match(follower.lines[-1])
        assert last is not None
        assert last.group(1).startswith("ValueError: invalid payload")
    finally:
        follower.stop()


def test_apply_server_side_with_server_dry_run(server, kubectl, tmp_path):
    manifest = tmp_path / "cm.yaml"
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kestrel-demo\n"
                        "  namespace: default\ndata:\n  mode: dry\n")
    rv_before = server.store.resource_version
    dry = kubectl.run("apply", "--server-side", "--dry-run=server", "-f", str(manifest))
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.strip() == "configmap/kestrel-demo serverside-applied (server dry run)"
    assert server.store.get("configmaps", "default", "kestrel-demo") is None
    assert server.store.resource_version == rv_before
    real = kubectl.run("apply", "--server-side", "-f", str(manifest))
    assert real.returncode == 0, real.stderr
    stored = server.store.get("configmaps", "default", "kestrel-demo")
    assert stored["data"] == {"mode": "dry"}
    assert [(m["manager"], m["operation"]) for m in stored["metadata"]["managedFields"]] == [
        ("kubectl", "Apply")]
    manifest.write_text(manifest.read_text().replace("mode: dry", "mode: rival"))
    rival = kubectl.run("apply", "--server-side", "--field-manager=rival", "-f", str(manifest))
    assert rival.returncode == 1
    assert 'Apply failed with 1 conflict: conflict with "kubectl": .data.mode' in rival.stderr


def _wait_until(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_controllers_follow_scale_rollout_restart_and_pod_deletion(server, kubectl):
    namespace = "team-00"
    deploy = next(d for d in server.ground_truth()["deployments.apps"]
                  if d["metadata"]["namespace"] == namespace)["metadata"]["name"]

    def app_pods():
        return [p for p in _pods(server, namespace) if p["metadata"]["labels"].get("app") == deploy]

    scaled = kubectl.run("scale", "deployment", deploy, "-n", namespace, "--replicas=3")
    assert scaled.returncode == 0, scaled.stderr
    _wait_until(lambda: len(app_pods()) == 3)
    before = {p["metadata"]["name"] for p in app_pods()}
    restarted = kubectl.run("rollout", "restart", "deployment", deploy, "-n", namespace)
    assert restarted.returncode == 0, restarted.stderr
    status = kubectl.run("rollout", "status", "deployment", deploy, "-n", namespace,
                         "--timeout=20s")
    assert status.returncode == 0, status.stderr + status.stdout
    assert "successfully rolled out" in status.stdout
    _wait_until(lambda: len(app_pods()) == 3 and not before & {
        p["metadata"]["name"] for p in app_pods()})
    victim = app_pods()[0]["metadata"]["name"]
    deleted = kubectl.run("delete", "pod", victim, "-n", namespace)
    assert deleted.returncode == 0, deleted.stderr
    _wait_until(lambda: len(app_pods()) == 3 and victim not in {
        p["metadata"]["name"] for p in app_pods()})
