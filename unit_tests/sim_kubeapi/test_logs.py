import re

import pytest

from sim.kubeapi import cluster, log_following, logs, objects
from sim.kubeapi.status import ApiError
from sim.kubeapi.store import ObjectStore, rfc3339
from unit_tests.sim_kubeapi.helpers import FixedClock, RecordingSink

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z ")


@pytest.fixture
def world():
    clock = FixedClock()
    store = ObjectStore(clock=clock)
    rs = {"metadata": {"name": "web-abc", "namespace": "ns", "uid": "u1"}}
    template = objects.pod_template("web-1", "img:1", sidecar=True)
    pod = objects.pod(__import__("random").Random(1), rs, "ReplicaSet", template, "node-000",
                      "10.0.0.1", "192.168.0.2", clock.now - 100, name="web-abc-x1")
    single = objects.pod(__import__("random").Random(2), rs, "ReplicaSet",
                         objects.pod_template("api-1", "img:1", sidecar=False), "node-000",
                         "10.0.0.2", "192.168.0.2", clock.now - 100, name="api-x2")
    store.create("pods", pod)
    store.create("pods", single)
    return store, clock


def _get(store, name, params, interval=1.0):
    request = log_following.LogRequest.resolve(store, "ns", name, params, interval)
    return request, request.initial().decode()


def test_tail_timestamps_and_since(world):
    store, _ = world
    _, text = _get(store, "api-x2", {"tailLines": "3", "timestamps": "true"})
    lines = text.splitlines()
    assert len(lines) == 3
    assert all(TS.match(line) for line in lines)
    _, everything = _get(store, "api-x2", {})
    assert len(everything.splitlines()) == 98  # one line a second since startedAt (now - 98)
    assert everything.splitlines()[-3:] == [line.split(" ", 1)[1] for line in lines]
    _, recent = _get(store, "api-x2", {"sinceSeconds": "10"})
    assert recent.splitlines() == everything.splitlines()[-11:]  # t >= now - 10, inclusive
    _, limited = _get(store, "api-x2", {"limitBytes": "25"})
    assert len(limited.encode()) == 25
    assert "ERROR" in everything  # some ERROR lines over time


def test_container_errors_are_400_with_upstream_wording(world):
    store, _ = world
    with pytest.raises(ApiError) as error:
        _get(store, "web-abc-x1", {})
    assert error.value.code == 400
    assert error.value.message == ("a container name must be specified for pod web-abc-x1, "
                                   "choose one of: [web istio-proxy]")
    with pytest.raises(ApiError) as error:
        _get(store, "web-abc-x1", {"container": "nope"})
    assert error.value.message == "container nope is not valid for pod web-abc-x1"
    with pytest.raises(ApiError) as error:
        _get(store, "api-x2", {"previous": "true"})
    assert error.value.message == 'previous terminated container "api" in pod "api-x2" not found'
    with pytest.raises(ApiError) as error:
        _get(store, "api-x2", {"tailLines": "-1"})
    assert error.value.code == 422
    with pytest.raises(ApiError) as error:
        _get(store, "api-x2", {"sinceSeconds": "5", "sinceTime": "2026-01-01T00:00:00Z"})
    assert error.value.code == 422
    with pytest.raises(ApiError) as error:
        _get(store, "missing", {})
    assert error.value.code == 404


def test_waiting_container_is_400(world):
    store, _ = world

    def waiting(obj):
        obj["status"]["containerStatuses"][0]["state"] = {
            "waiting": {"reason": "ContainerCreating"}}
    store.mutate("pods", "ns", "api-x2", waiting)
    with pytest.raises(ApiError) as error:
        _get(store, "api-x2", {})
    assert error.value.message == ('container "api" in pod "api-x2" is waiting to start: '
                                   "ContainerCreating")


def test_crashed_run_ends_in_traceback_and_previous_is_distinct(world):
    store, clock = world
    store.mutate("pods", "ns", "api-x2",
                 lambda p: cluster.crash_loop(p, clock.now, restarts=2, reason="Error"))
    _, current = _get(store, "api-x2", {"tailLines": "7"})
    assert current.splitlines()[1] == "Traceback (most recent call last):"
    assert current.splitlines()[-1].startswith("ValueError: invalid payload")
    _, previous = _get(store, "api-x2", {"previous": "true"})
    assert previous.endswith(current)  # CrashLoopBackOff serves the last terminated run
    clock.now += 30

    def restarted(obj):
        obj["status"]["containerStatuses"][0]["state"] = {
            "running": {"startedAt": rfc3339(clock.now - 10)}}
    store.mutate("pods", "ns", "api-x2", restarted)
    _, fresh = _get(store, "api-x2", {})
    assert "Traceback" not in fresh
    assert fresh != previous


def test_follow_emits_new_lines_until_the_container_terminates(world):
    store, clock = world
    request, initial = _get(store, "api-x2", {"follow": "true", "tailLines": "1"},
                            interval=0.5)
    assert len(initial.splitlines()) == 1
    assert request.follows
    sink = RecordingSink()
    ticks = []

    def sleep(_seconds):
        ticks.append(1)
        clock.now += 1
        if len(ticks) == 3:
            store.mutate("pods", "ns", "api-x2", lambda p: cluster.crash_loop(
                p, clock.now, restarts=1, reason="OOMKilled"))
        assert len(ticks) < 10

    ended = request.follow(sink, __import__("sim.kubeapi.faults", fromlist=["x"]).OpenStream(
        "log", "api-x2"), lambda: False, sleep)
    assert ended == "terminated"
    text = bytes(sink.data).decode().splitlines()
    assert len(text) >= 4
    assert text[-1].startswith("WARN  memory usage at 98% of limit")


def test_log_lines_are_deterministic():
    run = logs.ContainerRun("ns/p/c#0", 1000.0, None, "")
    assert run.lines(1.0, 0, 1050, None) == run.lines(1.0, 0, 1050, None)
    assert len(run.lines(1.0, 0, 1050, 5)) == 5
