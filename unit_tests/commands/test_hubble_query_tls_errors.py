"""Relay call failures as answers: TLS problems are named, UNAVAILABLE re-resolves (no sockets).

A scripted channel raises gRPC errors shaped like the ones grpcio reports (texts copied from a
real wrong-CA, wrong-server-name and plaintext-relay handshake); the port must turn a TLS failure
into an error starting ``tls:`` that names the address and server name, leave other errors as
``CODE: details``, and after UNAVAILABLE resolve and dial again on the next call.
"""

from __future__ import annotations

import grpc
import pytest

from actors.commands.cilium_request import CiliumQueries, HubbleQueryError
from actors.commands.hubble_query_adapter import HubbleRelayQueries
from actors.flows.relay_discovery import RelayTarget, TlsMaterial
from messages.wire.observer import observer_pb2

BAD_CA = ("failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:35921: Tls "
          "handshake failed (TSI_PROTOCOL_FAILURE): SSL_ERROR_SSL: error:1a000064:ECDSA "
          "routines:OPENSSL_internal:BAD_SIGNATURE: certificate signature failure: OK")
BAD_NAME = ("failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:35921: "
            "Custom verification check failed with error: UNAUTHENTICATED: Hostname "
            "Verification Check failed.")
REFUSED = ("failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:1: Failed "
           "to connect to remote host: Connection refused")
TLS_TARGET = RelayTarget(address="127.0.0.1:4245", reason="configured address; TLS",
                         tls=TlsMaterial(ca_pem=b"ca", server_name="instance.relay.example"))


class FakeRpcError(grpc.RpcError, grpc.Call):  # type: ignore[misc]
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self):
        return self._code

    def details(self):
        return self._details

    def initial_metadata(self):
        return ()

    def trailing_metadata(self):
        return ()

    def is_active(self):
        return False

    def time_remaining(self):
        return None

    def cancel(self):
        return False

    def add_callback(self, callback):
        return False


class ScriptedChannel:
    """Each unary call raises the next scripted error, then answers a ServerStatus."""

    def __init__(self, errors: list[FakeRpcError]) -> None:
        self.errors = errors
        self.closed = False

    def unary_unary(self, *args, **kwargs):
        def call(request, timeout):
            if self.errors:
                raise self.errors.pop(0)
            return observer_pb2.ServerStatusResponse(version="again")
        return call

    def unary_stream(self, *args, **kwargs):
        return None

    def close(self) -> None:
        self.closed = True


def scripted(target: RelayTarget, *errors: FakeRpcError):
    resolved: list[float] = []
    channels: list[ScriptedChannel] = []

    def resolve(timeout_s: float) -> RelayTarget:
        resolved.append(timeout_s)
        return target

    def factory(_target: RelayTarget) -> ScriptedChannel:
        channels.append(ScriptedChannel([] if channels else list(errors)))
        return channels[-1]

    return HubbleRelayQueries(resolve, channel_factory=factory), resolved, channels


@pytest.mark.parametrize("details", [BAD_CA, BAD_NAME])
def test_a_tls_handshake_failure_is_an_answer_naming_tls_address_and_server_name(details):
    port, _resolved, _ = scripted(TLS_TARGET, FakeRpcError(grpc.StatusCode.UNAVAILABLE, details))
    answer = CiliumQueries(port, reader=None).status(timeout_s=1.0)   # type: ignore[arg-type]
    assert not answer.success
    assert answer.error_message.startswith("Hubble: tls: TLS to hubble relay 127.0.0.1:4245")
    assert "instance.relay.example" in answer.error_message
    assert "no plaintext fallback" in answer.error_message
    assert port.tls_failures == 1


def test_unavailable_drops_the_channel_and_the_next_call_resolves_again():
    refused = FakeRpcError(grpc.StatusCode.UNAVAILABLE, REFUSED)
    port, resolved, channels = scripted(TLS_TARGET, refused)
    with pytest.raises(HubbleQueryError) as error:
        port.server_status(timeout_s=1.0)
    assert str(error.value).startswith("UNAVAILABLE: failed to connect")
    assert "(relay 127.0.0.1:4245, TLS)" in str(error.value)
    assert port.tls_failures == 0
    assert len(resolved) == 1
    assert port.server_status(timeout_s=1.0) == {"version": "again"}
    assert len(resolved) == 2
    assert len(channels) == 2


def test_other_errors_keep_the_channel_and_plaintext_is_never_called_tls():
    target = RelayTarget(address="127.0.0.1:4245", tls=None, reason="plaintext")
    denied = FakeRpcError(grpc.StatusCode.PERMISSION_DENIED, "ssl-ish words do not matter")
    port, resolved, channels = scripted(target, denied, denied)   # one channel, two errors
    for _ in range(2):
        with pytest.raises(HubbleQueryError, match=r"^PERMISSION_DENIED: .*plaintext\)$"):
            port.nodes(timeout_s=1.0)
    assert len(resolved) == 1
    assert len(channels) == 1
    port.close()
    assert channels[0].closed
