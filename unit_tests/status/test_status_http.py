"""The status endpoint over a real loopback socket (ephemeral port) with a fake provider."""

import http.client
import json
import socket
import threading

import pytest

from actors.runtime.status_http import MAX_HEAD_BYTES, StatusServer, readiness_check
from actors.runtime.topology import load_topology
from messages.runtime import ComponentState
from unit_tests.status.fake_tree import WEIRD_ID, balanced_tree, node, unbalanced_tree


class FakeProvider:
    def __init__(self, status):
        self.status = status
        self.calls = 0

    def __call__(self):
        self.calls += 1
        if isinstance(self.status, Exception):
            raise self.status
        return self.status


@pytest.fixture
def serve():
    servers = []

    def start(status, **kwargs):
        provider = FakeProvider(status)
        kwargs.setdefault("cache_s", 0.0)
        server = StatusServer("127.0.0.1", 0, provider, **kwargs)
        server.start()
        servers.append(server)
        return server, provider

    yield start
    for server in servers:
        server.stop()


def request(server, path, method="GET", body=None, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def raw_exchange(server, data, timeout=5.0):
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks: list[bytes] = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def test_healthz_follows_the_provider(serve):
    up, _ = serve(balanced_tree())
    assert request(up, "/healthz")[::2] == (200, b"ok\n")
    down, _ = serve(None)
    code, _, body = request(down, "/healthz")
    assert (code, body) == (503, b"unavailable: the actor system did not answer within its "
                                 b"timeout\n")
    broken, _ = serve(RuntimeError("ask failed"))
    code, _, body = request(broken, "/healthz")
    assert (code, body) == (503, b"unavailable: the status provider failed: ask failed\n")
    assert request(broken, "/metrics")[2].endswith(b"kestrel_actor_system_up 0\n")


def test_status_json_tree_links_and_conservation(serve):
    server, _ = serve(balanced_tree())
    code, headers, body = request(server, "/status?pretty=1")
    assert code == 200
    assert headers["Content-Type"] == "application/json"
    document = json.loads(body)
    assert document["conservation_ok"] is True
    assert document["ready"] is True
    root = document["root"]
    assert (root["id"], root["state"], root["uptime_s"]) == ("supervisor/root", "running", 99.0)
    source = root["children"][0]["children"][1]
    assert source == {
        "id": "synthetic_source/a", "type": "synthetic_source", "state": "running",
        "incarnation": 3, "pid": 4242, "restarts": 2, "last_error": "boom", "uptime_s": 12.5,
        "counters": {"records_generated_total": 1000, "rate_per_s": 2.5},
        "links": [document["links"][0]], "children": []}
    assert document["links"] == [{
        "id": f"synthetic_source/a->{WEIRD_ID}", "from": "synthetic_source/a", "to": WEIRD_ID,
        "overflow": "drop_oldest", "window": 8, "batches_in_flight": 1, "in_flight": 50,
        "received": 1000, "forwarded": 900, "dropped": 50, "balanced": True}]


def test_status_reports_unbalanced_links_and_not_ready(serve):
    server, _ = serve(unbalanced_tree())
    document = json.loads(request(server, "/status")[2])
    assert document["conservation_ok"] is False
    assert document["links"][0]["balanced"] is False
    assert document["ready_reasons"] == ["synthetic_source/a: backoff (restarts 3, last error: "
                                         "died)"]
    code, _, body = request(server, "/readyz")
    assert (code, body) == (503, b"not ready:\n- synthetic_source/a: backoff (restarts 3, "
                                 b"last error: died)\n")
    assert request(server, "/status")[0] == 200
    down, _ = serve(None)
    code, _, body = request(down, "/status")
    assert code == 503
    assert json.loads(body) == {"error": "the actor system did not answer within its timeout"}


TOPOLOGY = """
actors:
  supervisor/root: {children: [synthetic_sink/b, synthetic_source/a]}
  synthetic_source/a: {restart: temporary}
  synthetic_sink/b: {}
"""


def test_readiness_counts_only_permanent_components_and_uplink_connection():
    check = readiness_check(load_topology(TOPOLOGY, env={}))
    tree = unbalanced_tree()   # the temporary source is in backoff: still ready
    assert check(tree) == []
    sink_down = node("supervisor/root", children=[node("synthetic_sink/b",
                                                       ComponentState.FAILED)])
    assert check(sink_down) == ["synthetic_sink/b: failed (restarts 0)"]
    assert readiness_check()(sink_down) == ["synthetic_sink/b: failed (restarts 0)"]
    no_sink = node("supervisor/root")
    assert check(no_sink) == ["synthetic_sink/b: missing from the status tree"]
    for connected, reasons in ((0.0, ["cloud_uplink/main: not connected to the cloud (counter "
                                      "connected != 1)"]), (1.0, [])):
        uplink = node("cloud_uplink/main", counters=[("connected", connected)])
        assert readiness_check()(node("supervisor/root", children=[uplink])) == reasons


def test_metrics_content_type_and_head(serve):
    server, _ = serve(balanced_tree())
    code, headers, body = request(server, "/metrics")
    assert code == 200
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert b"kestrel_links_conserved 1\n" in body
    code, headers, body = request(server, "/metrics", method="HEAD")
    assert (code, body) == (200, b"")
    assert int(headers["Content-Length"]) > 0


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_no_route_changes_anything(serve, method):
    server, provider = serve(balanced_tree())
    code, headers, _ = request(server, "/status", method=method, body=b'{"x": 1}')
    assert code == 405
    assert headers["Allow"] == "GET, HEAD"
    assert provider.calls == 0
    assert server.counters["requests_not_allowed"] == 1


def test_unknown_path_is_404(serve):
    server, provider = serve(balanced_tree())
    assert request(server, "/admin")[0] == 404
    assert request(server, "/status/../admin")[0] == 404
    assert provider.calls == 0


def test_oversized_heads_are_refused(serve):
    server, _ = serve(balanced_tree())
    huge = b"GET /healthz HTTP/1.0\r\nX-Pad: " + b"a" * MAX_HEAD_BYTES + b"\r\n\r\n"
    assert raw_exchange(server, huge).startswith(b"HTTP/1.0 431")
    long_line = b"GET /" + b"a" * 4000 + b" HTTP/1.0\r\n\r\n"
    assert raw_exchange(server, long_line).startswith(b"HTTP/1.0 414")
    assert raw_exchange(server, b"BLAH\r\n\r\n").startswith(b"HTTP/1.0 400")
    assert server.counters["requests_too_large"] == 2


def test_slow_client_is_cut_off_without_blocking_others(serve):
    server, _ = serve(balanced_tree(), request_timeout_s=0.3)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as slow:
        slow.sendall(b"GET /healthz HTTP/1.0\r\nX-Slow: ")
        assert request(server, "/healthz")[0] == 200   # served while the slow one waits
        assert slow.recv(100) == b""                   # the server closed it (bounded by 5 s)
    assert server.counters["requests_timed_out"] == 1


def test_connections_beyond_the_limit_are_refused(serve):
    server, _ = serve(balanced_tree(), max_connections=1, request_timeout_s=3.0)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as holder:
        holder.sendall(b"GET /healthz HTTP/1.0\r\n")   # incomplete: holds the only slot
        refused = raw_exchange(server, b"GET /healthz HTTP/1.0\r\n\r\n")
        assert refused.startswith(b"HTTP/1.0 503")
        holder.sendall(b"\r\n")
        assert holder.recv(100).startswith(b"HTTP/1.0 200")
    assert server.counters["connections_refused"] == 1


def test_snapshots_are_cached_and_serialized():
    now = [100.0]
    provider = FakeProvider(balanced_tree())
    server = StatusServer("127.0.0.1", 0, provider, cache_s=1.0, clock=lambda: now[0])
    server.start()
    try:
        threads = [threading.Thread(target=request, args=(server, "/healthz")) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert provider.calls == 1
        now[0] += 1.5
        request(server, "/status")
        assert provider.calls == 2
    finally:
        server.stop()


def test_snapshot_shares_the_cache_with_http():
    now = [5.0]
    provider = FakeProvider(balanced_tree())
    server = StatusServer("127.0.0.1", 0, provider, cache_s=1.0, clock=lambda: now[0])
    assert server.snapshot() is provider.status   # works before start() too
    server.start()
    try:
        assert request(server, "/healthz")[0] == 200
        assert provider.calls == 1
    finally:
        server.stop()
    server.stop()   # idempotent


def test_a_broken_ready_check_means_not_ready(serve):
    def broken(status):
        raise KeyError("connected")

    server, _ = serve(balanced_tree(), ready_check=broken)
    code, _, body = request(server, "/readyz")
    assert (code, body) == (503, b"not ready:\n- the readiness check failed: 'connected'\n")
    assert request(server, "/healthz")[0] == 200
