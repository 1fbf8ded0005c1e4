"""The ring's embedded OTLP receiver: its settings, and the adapter over real loopback gRPC
(bridge fills → UNAVAILABLE before decoding, stop_accepting refuses, counters named as the
standalone receiver's)."""

import grpc
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)

from actors.metrics.embedded_receiver import EmbeddedReceiver
from actors.metrics.otlp_server import EXPORT_METHOD
from actors.metrics.settings import ring_settings
from unit_tests.metrics.otlp_builders import T0, gauge, pod_resource, request


def test_ring_settings_carry_a_disabled_receiver_by_default():
    values, _ = ring_settings({})
    assert values["receiver"]["enabled"] is False
    assert values["receiver"]["port"] == 4317
    assert values["receiver"]["queue_requests"] == 32
    assert "batch_points" not in values["receiver"]


@pytest.mark.parametrize(("receiver", "message"), [
    ({"enabled": True, "port": 70000}, "port"),
    ({"enabled": True, "workers": 0}, "receiverWorkers"),
    ({"enabled": True, "grace": "soon"}, "grace"),
])
def test_an_enabled_receiver_with_bad_values_is_a_clear_error(receiver, message):
    with pytest.raises(ValueError, match=message):
        ring_settings({"receiver": receiver})


def test_a_disabled_receiver_is_not_checked():
    values, _ = ring_settings({"receiver": {"enabled": False, "port": 70000}})
    assert values["receiver"]["enabled"] is False


@pytest.fixture
def embedded():
    receiver = EmbeddedReceiver({"enabled": True, "host": "127.0.0.1", "port": 0,
                                 "workers": 2, "queue_requests": 2, "grace": 0})
    port = receiver.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield receiver, channel.unary_unary(EXPORT_METHOD)
    channel.close()
    receiver.stop()
    receiver.bridge.close()


def _call(export):
    body = request([(pod_resource(), [gauge("g", [(T0, 1.0)])])])
    return ExportMetricsServiceResponse.FromString(
        export(body, timeout=10, compression=grpc.Compression.Gzip))


def test_a_full_bridge_answers_unavailable_without_decoding(embedded):
    receiver, export = embedded
    _call(export)
    _call(export)
    with pytest.raises(grpc.RpcError) as err:
        _call(export)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    counters = receiver.counters()
    assert counters["requests_accepted_total"] == 2
    assert counters["unavailable_total"] == 1
    assert counters["points_received_total"] == 2        # the refused call was not decoded
    assert [batch.points for batch in receiver.bridge.drain(10)] == [1, 1]
    _call(export)                                         # room again: served
    assert receiver.bridge.pending() == 1


def test_stop_accepting_refuses_and_keeps_what_was_accepted(embedded):
    receiver, export = embedded
    _call(export)
    receiver.stop_accepting()
    with pytest.raises(grpc.RpcError) as err:
        _call(export)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert receiver.counters()["accepting"] == 0.0
    assert len(receiver.bridge.drain(10)) == 1
