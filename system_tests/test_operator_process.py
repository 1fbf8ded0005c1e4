"""The operator as a black box: ``kestrel-operator run`` against its own status endpoint.

Issue 2's process-level promises: /status and /metrics describe the running tree; only the
published status port listens beyond loopback; a SIGKILLed mid-tree supervisor is restarted and
leaves no orphan; SIGTERM ends everything, also with an actor blocked inside a handler.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from sim.demo.operator_process import OperatorUnderTest, component, components, free_port

pytestmark = pytest.mark.system

TOPOLOGY = """
operator:
  status: {{host: 0.0.0.0, port: {port}}}
  drain_timeout: 3s
  shutdown_timeout: 15s
actors:
  supervisor/root:
    strategy: one_for_one
    children: [supervisor/pipeline, synthetic_sink/lone, synthetic_source/lone]
  supervisor/pipeline:
    strategy: rest_for_one
    backoff: {{min: 100ms, max: 1s, reset_after: 30s}}
    children: [synthetic_sink/main, synthetic_source/main]
  synthetic_source/main: {{rate_per_s: 3000, batch_records: 100}}
  synthetic_sink/main: {{}}
  synthetic_sink/lone: {{block_handler_s: {block}}}
  synthetic_source/lone: {{rate_per_s: 500, batch_records: 50}}
links:
  - {{from: synthetic_source/main, to: synthetic_sink/main, window: 4, overflow: block}}
  - {{from: synthetic_source/lone, to: synthetic_sink/lone, window: 4, overflow: drop_oldest}}
"""


@pytest.fixture
def operator(tmp_path, request):
    block = getattr(request, "param", 0)
    port = free_port()
    under_test = OperatorUnderTest(tmp_path, TOPOLOGY.format(port=port, block=block), port)
    yield under_test
    under_test.kill_everything()


def _moving(document):
    links = document["links"]
    return len(links) == 2 and all(link["received"] > 200 for link in links)


def test_status_and_metrics_describe_the_running_tree(operator):
    operator.start()
    document = operator.wait_for(_moving, 30, "records moving on every link")
    ids = [c["id"] for c in components(document["root"])]
    assert ids == ["supervisor/root", "supervisor/pipeline", "synthetic_sink/main",
                   "synthetic_source/main", "synthetic_sink/lone", "synthetic_source/lone"]
    assert {c["state"] for c in components(document["root"])} == {"running"}
    assert all(c["pid"] > 0 for c in components(document["root"]))
    assert document["conservation_ok"] is True
    assert document["ready"] is True
    assert sorted(link["from"] for link in document["links"]) == ["synthetic_source/lone",
                                                                  "synthetic_source/main"]
    for link in document["links"]:
        assert link["received"] == link["forwarded"] + link["dropped"] + link["in_flight"]
        assert link["batches_in_flight"] <= link["window"] == 4
    code, metrics = _metrics(operator)
    assert code == 200
    assert 'kestrel_component_up{component="synthetic_sink/main",type="synthetic_sink"} 1' \
        in metrics
    assert "kestrel_link_received_records_total{" in metrics
    assert 'link="synthetic_source/main->synthetic_sink/main"' in metrics


def _metrics(operator):
    from sim.demo.operator_process import http_get

    return http_get(operator.url + "/metrics")


def test_only_the_published_port_listens_beyond_loopback(operator):
    operator.start()
    operator.wait_for(_moving, 30, "records moving")
    from sim.demo.operator_process import listening_sockets

    sockets = listening_sockets(operator.pids())
    assert len(sockets) >= 5  # admin, logger, every actor, the status server
    public = [(addr, port) for addr, port in sockets if addr not in ("127.0.0.1", "::1")]
    assert public == [("0.0.0.0", int(operator.url.rsplit(":", 1)[1]))]


def test_killed_mid_tree_supervisor_is_restarted_without_orphans(operator):
    operator.start()
    before = operator.wait_for(_moving, 30, "records moving")
    pipeline = component(before, "supervisor/pipeline")
    old_children = {c["pid"] for c in components(pipeline)}
    os.kill(pipeline["pid"], signal.SIGKILL)
    after = operator.wait_for(
        lambda d: component(d, "supervisor/pipeline")["restarts"] >= 1
        and component(d, "supervisor/pipeline")["state"] == "running"
        and component(d, "synthetic_source/main")["state"] == "running",
        40, "the pipeline supervisor restarted")
    new_children = {c["pid"] for c in components(component(after, "supervisor/pipeline"))}
    assert not old_children & new_children
    deadline = time.monotonic() + 10
    while old_children & operator.pids() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not old_children & operator.pids(), "orphans of the killed supervisor survived"
    assert component(after, "synthetic_sink/lone")["restarts"] == 0
    assert operator.terminate() == 0
    assert not operator.pids()


@pytest.mark.parametrize("operator", [120], indirect=True, ids=["actor-blocked-120s"])
def test_sigterm_stops_everything_even_with_a_blocked_actor(operator):
    operator.start(probe="/healthz")  # never ready: the blocked sink cannot answer probes
    operator.wait_for(lambda d: component(d, "synthetic_sink/lone")["state"] == "unresponsive",
                      30, "the lone sink blocked inside its handler")
    started = time.monotonic()
    assert operator.terminate(within_s=60) == 0
    assert time.monotonic() - started < 60, "shutdown waited for the blocked handler"
    deadline = time.monotonic() + 5
    while operator.pids() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not operator.pids(), f"left behind: {operator.pids()}"
