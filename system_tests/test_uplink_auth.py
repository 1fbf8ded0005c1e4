"""Uplink auth and TLS faults against the simulated cloud (real OAuth2 endpoint, real mTLS).

- a token that expires mid-stream: the cloud ends the stream with UNAUTHENTICATED, the uplink
  reopens it with a fresh token at once, nothing is lost;
- the token endpoint refusing: reconnects back off (no crash loop), then recover;
- a wrong CA or an expired client certificate: a clear error in the status counters and the log;
  fixing the files on disk is picked up without a restart.
"""

from __future__ import annotations

import logging
import shutil
import time

import pytest

from actors.uplink.assembly import build_uplink
from system_tests.test_uplink_outage import (
    all_delivered,
    cloud,  # noqa: F401  (fixture)
    produce,
    pump_until,
    received_ids,
    uplink_settings,
)

pytestmark = pytest.mark.system


def test_token_expiry_mid_stream_reopens_and_loses_nothing(cloud, tmp_path):  # noqa: F811
    stack = build_uplink(uplink_settings(cloud, tmp_path / "spool"))
    stack.start()
    state = {"next_id": 0, "lossy": 0}
    try:
        assert pump_until(stack, lambda: stack.core.connected, 15)
        for _ in range(2):
            produce(stack, 0.5, state)
            cloud.token_endpoint.tokens.expire_all()
            produce(stack, 0.5, state)
        assert pump_until(stack, lambda: all_delivered(stack, cloud), 30)
        counters = stack.counters()
    finally:
        stack.close()
    assert cloud.stream.stats["expired_mid_stream"] >= 2
    assert counters["stream_reauthentications"] >= 2
    assert counters["token_fetches"] >= 3
    assert counters["stream_tls_errors"] == 0
    assert received_ids(cloud) == set(range(state["next_id"]))


def test_token_endpoint_down_backs_off_then_recovers(cloud, tmp_path, caplog):  # noqa: F811
    caplog.set_level(logging.INFO)
    stack = build_uplink(uplink_settings(cloud, tmp_path / "spool", backoff_max_s=0.5))
    stack.start()
    state = {"next_id": 0, "lossy": 0}
    try:
        assert pump_until(stack, lambda: stack.core.connected, 15)
        cloud.token_endpoint.refuse = True
        cloud.token_endpoint.tokens.expire_all()
        assert pump_until(stack, lambda: stack.adapter.stats["token_errors"] >= 3, 15)
        produce(stack, 0.5, state)                       # still accepting: spooled
        refusals = cloud.token_endpoint.refused
        time.sleep(1.0)
        # backoff, not a hot loop: at most ~1 attempt per min_s..max_s window
        assert cloud.token_endpoint.refused - refusals <= 12
        assert stack.adapter._thread is not None
        assert stack.adapter._thread.is_alive()
        assert "temporarily_unavailable" in stack.adapter.last_error or \
            "503" in stack.adapter.last_error
        cloud.token_endpoint.refuse = False
        assert pump_until(stack, lambda: all_delivered(stack, cloud), 30)
    finally:
        stack.close()
    assert received_ids(cloud) == set(range(state["next_id"]))
    assert cloud.client_secret_file.read_text() not in caplog.text


def test_wrong_ca_is_a_clear_error_and_a_fixed_file_is_picked_up(cloud, tmp_path,  # noqa: F811
                                                                  caplog):
    caplog.set_level(logging.INFO)
    ca_copy = tmp_path / "mounted-ca.crt"
    shutil.copy(cloud.pki.wrong_ca_cert, ca_copy)
    settings = uplink_settings(cloud, tmp_path / "spool", ca_file=str(ca_copy))
    stack = build_uplink(settings)
    # the token endpoint is trusted separately here so the stream's TLS failure is isolated
    stack.tokens._ca_file = str(cloud.pki.ca_cert)
    stack.start()
    try:
        assert pump_until(stack, lambda: stack.adapter.stats["tls_errors"] >= 1, 20)
        assert "not trusted by CA file" in stack.adapter.last_error
        assert str(ca_copy) in stack.adapter.last_error
        assert "not trusted by CA file" in caplog.text
        assert stack.counters()["stream_tls_errors"] >= 1
        shutil.copy(cloud.pki.ca_cert, ca_copy)          # the Secret is fixed on disk
        assert pump_until(stack, lambda: stack.core.connected, 20)
        assert stack.tls.reloads >= 2
    finally:
        stack.close()


def test_expired_client_certificate_is_a_clear_error(cloud, tmp_path, caplog):  # noqa: F811
    caplog.set_level(logging.INFO)
    settings = uplink_settings(cloud, tmp_path / "spool",
                               cert_file=str(cloud.pki.expired_client_cert),
                               key_file=str(cloud.pki.expired_client_key))
    stack = build_uplink(settings)
    stack.start()
    try:
        assert pump_until(stack, lambda: stack.adapter.stats["tls_errors"] >= 2, 20)
        assert "expired at" in stack.adapter.last_error
        assert str(cloud.pki.expired_client_cert) in caplog.text
        assert not stack.core.connected
        assert cloud.stream.stats["streams"] == 0        # never even tried with a dead cert
    finally:
        stack.close()


def test_dropped_streams_slow_acks_and_refused_streams_lose_nothing(cloud, tmp_path):  # noqa: F811
    stack = build_uplink(uplink_settings(cloud, tmp_path / "spool", backoff_max_s=0.5))
    stack.start()
    state = {"next_id": 0, "lossy": 0}
    faults = cloud.stream.faults
    try:
        assert pump_until(stack, lambda: stack.core.connected, 15)
        faults.ack_delay_s, faults.slow_s = 0.3, 0.05
        produce(stack, 0.5, state)
        cloud.stream.drop_streams()
        produce(stack, 0.5, state)
        faults.reject_streams = True
        cloud.stream.drop_streams()
        assert pump_until(stack, lambda: "cloud refused the token" in stack.adapter.last_error,
                          10)
        produce(stack, 0.3, state)
        faults.reject_streams = False
        faults.ack_delay_s = faults.slow_s = 0.0
        assert pump_until(stack, lambda: all_delivered(stack, cloud), 30)
        counters = stack.counters()
    finally:
        stack.close()
    assert cloud.stream.stats["dropped"] >= 2
    assert cloud.stream.stats["rejected"] >= 1
    assert counters["sessions"] >= 3
    assert received_ids(cloud) == set(range(state["next_id"]))
