"""cloud_codec mapping, UplinkSettings validation, TLS file loading and error descriptions."""

import datetime
import os
import shutil

import msgpack
import pytest

from actors.uplink import cloud_codec, frames
from actors.uplink.settings import UplinkSettings
from actors.uplink.tls import TlsConfigError, TlsFiles, describe_handshake_failure
from messages.uplink import (
    CloudCommandKind,
    CloudCommandReceived,
    CloudCommandStatus,
    CloudSessionWelcomed,
    UplinkRecordKind,
)
from messages.wire.kestrel.cloud.v1 import uplink_pb2 as pb
from sim.cloud.pki import mint_pki


def test_frame_encoding_coalesces_batches_and_keeps_order():
    frame = frames.OutgoingFrame(4, (
        frames.ReliableBatch(1, UplinkRecordKind.EVENTS, 2, b"ab", 5),
        frames.LossyBatch(1, UplinkRecordKind.FLOWS, 3, b"c", 6),
        frames.ReliableInventoryCommit(2, "snap", (("pods", 9),)),
        frames.ReliableCommandResult(3, "r", CloudCommandStatus.FAILED, "boom", b"", True),
        frames.ReliableBatch(4, UplinkRecordKind.LOGS, 1, b"d", 7),
    ))
    messages = [pb.OperatorMessage.FromString(m) for m in cloud_codec.encode_frame(frame)]
    assert [m.WhichOneof("body") for m in messages] == [
        "frame", "inventory_commit", "command_result", "frame"]
    first = messages[0].frame.batches
    assert [(b.sequence, b.lossy_sequence, b.lossless) for b in first] == [
        (1, 0, True), (0, 1, False)]
    assert first[1].kind == pb.RECORD_KIND_FLOWS
    assert dict(messages[1].inventory_commit.counts) == {"pods": 9}
    assert messages[2].command_result.status == pb.COMMAND_STATUS_FAILED
    assert messages[2].command_result.truncated


def test_decode_cloud_messages():
    welcome = pb.CloudMessage(welcome=pb.Welcome(session_id="s", last_acked_sequence=9))
    assert cloud_codec.decode_cloud_message(welcome, 3) == CloudSessionWelcomed(
        epoch=3, session_id="s", last_acked_sequence=9, heartbeat_interval_ms=0)
    command = pb.CloudMessage(command=pb.Command(
        request_id="r1", deadline_unix_ms=77,
        k8s_request=pb.K8sRequest(method="GET", path="/api/v1/pods", query={"limit": "5"},
                                  body=b"\x00\x01")))
    decoded = cloud_codec.decode_cloud_message(command, 1)
    assert isinstance(decoded, CloudCommandReceived)
    assert decoded.kind is CloudCommandKind.K8S_REQUEST
    assert msgpack.unpackb(decoded.arguments) == {
        "method": "GET", "path": "/api/v1/pods", "query": {"limit": "5"}, "body": b"\x00\x01"}
    metrics = pb.CloudMessage(command=pb.Command(request_id="m", metrics_query=pb.MetricsQuery(
        metric_names=["a"], label_matchers=[pb.LabelMatcher(name="x", value="y")])))
    decoded_metrics = cloud_codec.decode_cloud_message(metrics, 1)
    assert isinstance(decoded_metrics, CloudCommandReceived)
    args = msgpack.unpackb(decoded_metrics.arguments)
    assert args == {"metric_names": ["a"], "label_matchers": [{"name": "x", "value": "y"}]}
    assert cloud_codec.decode_cloud_message(pb.CloudMessage(), 1) is None
    assert cloud_codec.decode_cloud_message(pb.CloudMessage(command=pb.Command()), 1) is None


@pytest.mark.parametrize("size", [0, 255, 256, 65_535, 65_536])
@pytest.mark.parametrize("count", [0, 127, 128, 70_000])
def test_batch_parts_join_to_the_msgpack_body(size, count):
    item = frames.ReliableBatch(3, UplinkRecordKind.LOGS, count, b"p" * size, -7 + size)
    head, payload, tail = frames.reliable_batch_parts(item)
    assert payload is item.payload                       # the payload is never copied
    assert head + payload + tail == frames.encode_reliable(item)
    assert frames.decode_reliable(3, head + payload + tail) == item


def test_spool_body_round_trip_and_bad_body():
    item = frames.ReliableCommandResult(0, "r", CloudCommandStatus.OK, "", b"p", False)
    assert frames.decode_reliable(8, frames.encode_reliable(item)) == \
        frames.ReliableCommandResult(8, "r", CloudCommandStatus.OK, "", b"p", False)
    with pytest.raises(frames.FrameDecodeError, match="spool entry 3"):
        frames.decode_reliable(3, b"\x93\x09\x01\x02")


def test_settings_problems_and_from_mapping():
    settings, errors = UplinkSettings.from_mapping({
        "cluster_id": "c", "server_address": "cloud:443", "token_url": "http://plain",
        "client_id_file": "/s/id", "client_secret_file": "/s/secret", "ca_file": "/t/ca",
        "cert_file": "/t/crt", "key_file": "/t/key", "window_batches": "many",
        "keepalive_time_s": 5, "bogus": 1, "command_owners": {"log_tail": "logs2"}})
    assert "uplink.bogus: unknown setting" in errors
    assert "uplink.window_batches: must be an integer" in errors
    assert any(e.startswith("uplink.token_url: must be an https://") for e in errors)
    assert any(e.startswith("uplink.keepalive_time_s:") for e in errors)
    assert ("log_tail", "logs2") in settings.command_owners
    good, errors = UplinkSettings.from_mapping({
        "cluster_id": "c", "server_address": "cloud:443", "token_url": "https://t/token",
        "client_id_file": "/s/id", "client_secret_file": "/s/secret", "ca_file": "/t/ca",
        "cert_file": "/t/crt", "key_file": "/t/key", "spool_dir": "/var/spool"})
    assert errors == []
    assert list(good.problems()) == []
    assert dict(UplinkSettings().problems())["cluster_id"] == "is required"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return mint_pki(tmp_path_factory.mktemp("pki"))


def test_tls_files_load_cache_and_reload_on_change(pki, tmp_path):
    cert, key = tmp_path / "c.crt", tmp_path / "c.key"
    shutil.copy(pki.client_cert, cert)
    shutil.copy(pki.client_key, key)
    tls = TlsFiles(ca_file=str(pki.ca_cert), cert_file=str(cert), key_file=str(key))
    first = tls.credentials()
    assert tls.credentials() is first
    assert tls.reloads == 1
    # rotation: the expired pair is written over the files; picked up without restart
    shutil.copy(pki.expired_client_cert, cert)
    shutil.copy(pki.expired_client_key, key)
    os.utime(cert, ns=(1, 1))
    with pytest.raises(TlsConfigError, match=r"client certificate .*c\.crt .* expired at"):
        tls.credentials()
    assert tls.reloads == 2


def test_tls_files_clear_errors(pki, tmp_path):
    mismatched = TlsFiles(ca_file=str(pki.ca_cert), cert_file=str(pki.client_cert),
                          key_file=str(pki.server_key))
    with pytest.raises(TlsConfigError, match="does not match certificate"):
        mismatched.credentials()
    missing = TlsFiles(ca_file=str(tmp_path / "nope"), cert_file=str(pki.client_cert),
                       key_file=str(pki.client_key))
    with pytest.raises(TlsConfigError, match=r"cannot read .*nope"):
        missing.credentials()
    (tmp_path / "junk").write_text("not a cert")
    junk = TlsFiles(ca_file=str(tmp_path / "junk"), cert_file=str(pki.client_cert),
                    key_file=str(pki.client_key))
    with pytest.raises(TlsConfigError, match="holds no PEM certificate"):
        junk.credentials()
    future = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC).timestamp()
    early = TlsFiles(ca_file=str(pki.ca_cert), cert_file=str(pki.client_cert),
                     key_file=str(pki.client_key), clock=lambda: future)
    with pytest.raises(TlsConfigError, match="not valid before"):
        early.credentials()


@pytest.mark.parametrize(("details", "expected"), [
    ("Ssl handshake failed: ... CERTIFICATE_VERIFY_FAILED", "not trusted by CA file ca.pem"),
    ("SSL_ERROR_SSL: sslv3 alert certificate expired", "rejected client certificate c.pem as"),
    ("tlsv1 alert unknown ca", "rejected client certificate c.pem"),
    ("failed to connect to all addresses; Connection refused", None),
])
def test_describe_handshake_failure(details, expected):
    text = describe_handshake_failure(details, ca_file="ca.pem", cert_file="c.pem")
    if expected is None:
        assert text is None
    else:
        assert text is not None
        assert expected in text
