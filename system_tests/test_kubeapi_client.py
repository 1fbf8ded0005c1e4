"""The official kubernetes Python client against the simulated API server (sim.kubeapi)."""

from __future__ import annotations

import pathlib
import signal
import subprocess
import sys
import threading

import pytest
import urllib3
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException
from kubernetes.config.incluster_config import InClusterConfigLoader

from sim.kubeapi import Churn, KubeApiServer, generate_cluster

pytestmark = pytest.mark.system
NAMESPACE = "team-02"


@pytest.fixture(scope="module")
def server():
    with KubeApiServer(generate_cluster("medium", seed=4), bookmark_interval_s=0.3,
                       log_interval_s=0.1, history_limit=5_000) as running:
        yield running


@pytest.fixture(scope="module")
def core(server, tmp_path_factory):
    kubeconfig = server.write_kubeconfig(tmp_path_factory.mktemp("client") / "kubeconfig")
    api_client = config.new_client_from_config(str(kubeconfig))
    yield client.CoreV1Api(api_client)
    api_client.close()


def _pod_names(server, namespace=NAMESPACE):
    return sorted(p["metadata"]["name"] for p in server.ground_truth()["pods"]
                  if p["metadata"]["namespace"] == namespace)


def test_list_with_pagination_returns_every_pod_once(server, core):
    seen, token, versions, remaining = [], None, set(), []
    for _ in range(100):
        page = core.list_pod_for_all_namespaces(limit=37, _continue=token)
        seen += [(p.metadata.namespace, p.metadata.name) for p in page.items]
        versions.add(page.metadata.resource_version)
        token = page.metadata._continue
        if not token:
            break
        remaining.append(page.metadata.remaining_item_count)
    assert not token
    assert len(versions) == 1
    assert remaining == sorted(remaining, reverse=True)
    assert remaining[-1] > 0
    truth = [(p["metadata"]["namespace"], p["metadata"]["name"])
             for p in server.ground_truth()["pods"]]
    assert sorted(seen) == sorted(truth)
    assert len(seen) == len(set(seen)) > 37


def test_watch_with_bookmarks_sees_a_change(server, core):
    start = core.list_namespaced_pod(NAMESPACE).metadata.resource_version
    victim = _pod_names(server)[0]
    changer = threading.Timer(0.5, Churn(server.store, seed=5).crash_loop, (NAMESPACE, victim))
    changer.start()
    stream = watch.Watch()
    types, bookmark_rvs = [], []
    try:
        for event in stream.stream(core.list_namespaced_pod, NAMESPACE, resource_version=start,
                                   allow_watch_bookmarks=True, timeout_seconds=10):
            types.append(event["type"])
            if event["type"] == "BOOKMARK":
                bookmark_rvs.append(int(event["raw_object"]["metadata"]["resourceVersion"]))
            elif event["object"].metadata.name == victim:
                status = event["object"].status.container_statuses[0]
                assert status.state.waiting.reason == "CrashLoopBackOff"
            if "MODIFIED" in types and bookmark_rvs:
                break
    finally:
        stream.stop()
        changer.join()
    assert "MODIFIED" in types
    assert bookmark_rvs
    assert bookmark_rvs == sorted(bookmark_rvs)
    assert bookmark_rvs[0] >= int(start)


def test_watch_resumes_from_a_resource_version(server, core):
    resume_from = core.list_namespaced_pod(NAMESPACE).metadata.resource_version
    churn = Churn(server.store, seed=6)
    first, second = _pod_names(server)[:2]
    churn.crash_loop(NAMESPACE, first)
    churn.oom_kill(NAMESPACE, second)
    churn.node_condition("node-003", ready=False)  # not a pod: must not show up
    events = [(e["type"], e["object"].metadata.name) for e in watch.Watch().stream(
        core.list_namespaced_pod, NAMESPACE, resource_version=resume_from, timeout_seconds=1)]
    assert events == [("MODIFIED", first), ("MODIFIED", second)]


def test_expired_resource_version_raises_api_exception_410(server, core):
    old = core.list_namespaced_pod(NAMESPACE).metadata.resource_version
    Churn(server.store, seed=9).warning_event(NAMESPACE, _pod_names(server)[0], "Test", "x")
    server.restart(lose_history=True)  # a restart with a cold watch cache
    with pytest.raises(ApiException) as error:
        for _ in watch.Watch().stream(core.list_namespaced_pod, NAMESPACE,
                                      resource_version=old, timeout_seconds=5):
            pass
    assert error.value.status == 410
    assert "too old resource version" in str(error.value)
    assert len(core.list_namespaced_pod(NAMESPACE).items) == len(_pod_names(server))


def test_stream_logs_follow_tail_and_previous(server, core):
    namespace = "team-03"  # no sidecars there: one container per pod
    pod = next(p for p in server.ground_truth()["pods"]
               if p["metadata"]["namespace"] == namespace
               and len(p["spec"]["containers"]) == 1
               and "running" in p["status"]["containerStatuses"][0]["state"])
    name = pod["metadata"]["name"]
    tail = core.read_namespaced_pod_log(name, namespace, tail_lines=5)
    assert len(tail.splitlines()) == 5
    response = core.read_namespaced_pod_log(name, namespace, follow=True, tail_lines=1,
                                            _preload_content=False)
    received = []
    try:
        for chunk in response.stream(amt=1024):
            received += chunk.decode().splitlines()
            if len(received) >= 4:
                break
    finally:
        response.release_conn()
    assert len(received) >= 4
    assert all(line.split()[0] in {"DEBUG", "INFO", "WARN", "ERROR"} for line in received)
    Churn(server.store, seed=8).crash_loop(namespace, name)
    previous = core.read_namespaced_pod_log(name, namespace, previous=True)
    assert "Traceback (most recent call last):" in previous
    with pytest.raises(ApiException) as error:
        core.read_namespaced_pod_log(name, namespace, container="nope")
    assert error.value.status == 400


def _drain(chunks, limit: int = 10_000) -> None:
    for index, _chunk in enumerate(chunks):
        assert index < limit


def test_injected_throttling_errors_and_dropped_watch(server, core):
    # urllib3 (under the client) honours Retry-After on 429: one throttled try, then success.
    server.faults.throttle(1, retry_after_s=1, match="/namespaces/team-02/pods")
    assert core.list_namespaced_pod(NAMESPACE).items
    assert server.faults.injected["429"] == 1
    server.faults.fail(2, code=503)
    for _ in range(2):
        with pytest.raises(ApiException) as error:
            core.list_namespace()
        assert error.value.status == 503
    assert core.list_namespace().items
    server.faults.slow(0.05, count=1)
    assert core.list_node(limit=1).items
    assert server.faults.injected["slow"] == 1
    response = core.list_namespaced_pod(NAMESPACE, watch=True, _preload_content=False)
    chunks = response.stream(amt=256)
    next(chunks)  # the stream is open and serving
    assert server.faults.drop_watches() >= 1
    with pytest.raises(urllib3.exceptions.ProtocolError):
        _drain(chunks)
    response.release_conn()


def test_in_cluster_files_and_read_only_token(server, tmp_path):
    environ = server.write_in_cluster_files(tmp_path)
    configuration = client.Configuration()
    InClusterConfigLoader(token_filename=str(tmp_path / "token"),
                          cert_filename=str(tmp_path / "ca.crt"),
                          environ=environ).load_and_set(configuration)
    with client.ApiClient(configuration) as api_client:
        reader = client.CoreV1Api(api_client)
        names = {n.metadata.name for n in reader.list_namespace().items if n.metadata}
        assert names >= {"default", NAMESPACE}
        with pytest.raises(ApiException) as error:
            reader.delete_namespaced_pod(_pod_names(server)[0], NAMESPACE)
        assert error.value.status == 403


def test_plain_http_server_with_bearer_token():
    with KubeApiServer(tls=False) as plain:
        configuration = client.Configuration(host=plain.url)
        configuration.api_key = {"authorization": f"Bearer {plain.tokens.admin}"}
        with client.ApiClient(configuration) as api_client:
            listed = client.CoreV1Api(api_client).list_namespace().items
            names = {n.metadata.name for n in listed if n.metadata}
        assert names == {"default", "kube-system", "kube-public", "kube-node-lease"}


def test_standalone_module_prints_a_kubeconfig_and_serves(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    process = subprocess.Popen(
        [sys.executable, "-m", "sim.kubeapi", "--scale", "small", "--kubeconfig",
         str(kubeconfig), "--churn", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=pathlib.Path(__file__).resolve().parent.parent)
    try:
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        assert first == f"KUBECONFIG={kubeconfig}"
        api_client = config.new_client_from_config(str(kubeconfig))
        try:
            nodes = client.CoreV1Api(api_client).list_node().items
        finally:
            api_client.close()
        assert len(nodes) == 3
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
