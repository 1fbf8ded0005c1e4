"""The h2 relay's HTTP/2 side over a socketpair, driven by an ``h2`` client frame by frame:
PING acks, flow-control windows honoured, RST_STREAM survived, trailers-only refusals."""

import contextlib
import socket
import threading
import time

import h2.config
import h2.connection
import h2.events
import h2.settings
import pytest

from messages.wire.observer import observer_pb2
from sim.hubble.h2_connection import ConnectionLoop
from sim.hubble.h2_get_flows import grpc_message
from sim.hubble.h2_relay import H2RelaySimulator
from sim.hubble.history import build_sequence

_GET_FLOWS = "/observer.Observer/GetFlows"


class _Client:
    """An h2 client on one end of a socketpair; the relay's ConnectionLoop serves the other."""

    def __init__(self, relay, window=65_535):
        self.sock, server_sock = socket.socketpair()
        self.sock.settimeout(0.05)
        self.ended: list[tuple[int, bool]] = []
        self.stopping = threading.Event()
        loop = ConnectionLoop(server_sock, relay.answer, self.stopping,
                              lambda sent, cancelled: self.ended.append((sent, cancelled)))
        self.thread = threading.Thread(target=loop.run, daemon=True)
        self.thread.start()
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.conn.initiate_connection()
        self.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
        self.data = {}
        self.trailers = {}
        self.closed = False

    def call(self, path, message):
        stream_id = self.conn.get_next_available_stream_id()
        self.conn.send_headers(stream_id, [(":method", "POST"), (":scheme", "http"),
                                           (":path", path), (":authority", "sim"),
                                           ("content-type", "application/grpc"),
                                           ("te", "trailers")])
        self.conn.send_data(stream_id, grpc_message(message), end_stream=True)
        self.data[stream_id] = b""
        return stream_id

    def pump(self, until, timeout=5.0, ack=True):
        """Exchange frames until ``until(events_so_far)``; returns the events."""
        events: list[h2.events.Event] = []
        deadline = time.monotonic() + timeout
        while not until(events):
            assert time.monotonic() < deadline, f"timed out; events {events[-5:]}"
            self._send()
            try:
                raw = self.sock.recv(1 << 20)
            except TimeoutError:
                continue
            if not raw:
                self.closed = True
                break
            for event in self.conn.receive_data(raw):
                events.append(event)
                if isinstance(event, h2.events.DataReceived):
                    self.data[event.stream_id] += event.data
                    if ack:
                        self.conn.acknowledge_received_data(event.flow_controlled_length,
                                                            event.stream_id)
                elif isinstance(event, h2.events.TrailersReceived) or (
                        isinstance(event, h2.events.ResponseReceived) and event.stream_ended):
                    self.trailers[event.stream_id] = dict(event.headers or [])
                elif isinstance(event, h2.events.ConnectionTerminated):
                    self.closed = True
        if not self.closed:
            self._send()
        return events

    def _send(self):
        # the relay may have closed its end: what it sent is still readable
        with contextlib.suppress(BrokenPipeError):
            self.sock.sendall(self.conn.data_to_send())

    def close(self):
        self.stopping.set()
        self.thread.join(5)
        self.sock.close()
        assert not self.thread.is_alive()


@pytest.fixture
def relay():
    return H2RelaySimulator(build_sequence("synthetic", total=2000, pool_size=256))


def _framed_flows(relay, request):
    chunks = relay.answer(_GET_FLOWS, grpc_message(request.SerializeToString())).chunks
    data = b""
    while chunk := chunks.next_chunk(1 << 20):
        data += chunk
    return data


def test_pings_are_acked_and_windows_are_never_exceeded(relay):
    client = _Client(relay, window=3000)
    try:
        client.conn.ping(b"bdp-ping")
        events = client.pump(lambda ev: any(isinstance(e, h2.events.PingAckReceived)
                                            for e in ev))
        assert any(e.ping_data == b"bdp-ping" for e in events
                   if isinstance(e, h2.events.PingAckReceived))
        stream = client.call(_GET_FLOWS, observer_pb2.GetFlowsRequest().SerializeToString())
        # no WINDOW_UPDATE from us: the relay must stop at the 3000-byte stream window
        client.pump(lambda ev: len(client.data[stream]) >= 3000, ack=False)
        time.sleep(0.2)
        client.pump(lambda ev: True, ack=False)
        assert len(client.data[stream]) == 3000
        client.conn.acknowledge_received_data(3000, stream)
        client.pump(lambda ev: stream in client.trailers, timeout=20)
        assert client.trailers[stream][b"grpc-status"] == b"0"
        expected = _framed_flows(relay, observer_pb2.GetFlowsRequest())
        assert client.data[stream] == expected
    finally:
        client.close()
    assert client.ended[0] == (2000, False)


def test_a_reset_stream_is_dropped_and_the_connection_keeps_serving(relay):
    client = _Client(relay, window=8000)
    try:
        first = client.call(_GET_FLOWS,
                            observer_pb2.GetFlowsRequest(follow=True).SerializeToString())
        client.pump(lambda ev: len(client.data[first]) >= 8000, ack=False)
        client.conn.reset_stream(first)
        second = client.call(_GET_FLOWS, observer_pb2.GetFlowsRequest(number=10)
                             .SerializeToString())
        client.pump(lambda ev: second in client.trailers)
        assert client.trailers[second][b"grpc-status"] == b"0"
        assert client.data[second] == _framed_flows(relay,
                                                    observer_pb2.GetFlowsRequest(number=10))
        assert first not in client.trailers
    finally:
        client.close()
    assert sorted(cancelled for _, cancelled in client.ended) == [False, True]


def test_unknown_methods_get_trailers_only_unimplemented(relay):
    client = _Client(relay)
    try:
        stream = client.call("/observer.Observer/GetDebugEvents", b"")
        client.pump(lambda ev: stream in client.trailers)
    finally:
        client.close()
    assert client.trailers[stream][b":status"] == b"200"
    assert client.trailers[stream][b"grpc-status"] == b"12"
    assert client.data[stream] == b""


def test_stopping_sends_goaway_and_closes(relay):
    client = _Client(relay)
    client.pump(lambda ev: any(isinstance(e, h2.events.RemoteSettingsChanged) for e in ev))
    client.stopping.set()
    events = client.pump(lambda ev: client.closed or any(
        isinstance(e, h2.events.ConnectionTerminated) for e in ev))
    assert any(isinstance(e, h2.events.ConnectionTerminated) for e in events)
    client.close()


def test_a_failing_answer_is_internal_for_that_call_only(relay):
    def answer(path, body):
        if path.endswith("GetNodes"):
            raise RuntimeError("boom")
        return relay.answer(path, body)
    client = _Client(type("FailingOnGetNodes", (), {"answer": staticmethod(answer)})())
    try:
        broken = client.call("/observer.Observer/GetNodes", b"")
        client.pump(lambda ev: broken in client.trailers)
        fine = client.call(_GET_FLOWS, observer_pb2.GetFlowsRequest(number=3)
                           .SerializeToString())
        client.pump(lambda ev: fine in client.trailers)
    finally:
        client.close()
    assert client.trailers[broken][b"grpc-status"] == b"13"
    assert client.trailers[fine][b"grpc-status"] == b"0"


def test_stop_does_not_hang_on_a_client_that_stopped_reading():
    relay = H2RelaySimulator(build_sequence("synthetic", total=20_000, pool_size=256))
    port = relay.start()
    sock = socket.create_connection(("127.0.0.1", port))
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 2**31 - 1})
    conn.increment_flow_control_window(2**31 - 1 - 65_535)
    conn.send_headers(1, [(":method", "POST"), (":scheme", "http"), (":path", _GET_FLOWS),
                          (":authority", "sim"), ("content-type", "application/grpc")])
    conn.send_data(1, grpc_message(b""), end_stream=True)
    sock.sendall(conn.data_to_send())
    try:
        deadline = time.monotonic() + 10
        while relay.streams_opened < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)     # the relay fills the socket buffers and blocks in sendall
        connections = list(relay._connections)
        started = time.monotonic()
        relay.stop(0.3)
        assert time.monotonic() - started < 3
        assert connections
        assert not any(thread.is_alive() for thread, _ in connections)
    finally:
        sock.close()


def test_a_request_reset_in_the_same_read_leaves_the_connection_serving(relay):
    client = _Client(relay)
    try:
        first = client.call(_GET_FLOWS, observer_pb2.GetFlowsRequest().SerializeToString())
        client.conn.reset_stream(first)     # END_STREAM and RST_STREAM arrive together
        client.pump(lambda ev: True)
        second = client.call(_GET_FLOWS, observer_pb2.GetFlowsRequest(number=5)
                             .SerializeToString())
        client.pump(lambda ev: second in client.trailers)
    finally:
        client.close()
    assert client.trailers[second][b"grpc-status"] == b"0"
    assert first not in client.trailers
