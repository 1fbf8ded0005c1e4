"""Token source against the sim token endpoint; adapter failure paths and backoff (no stream)."""

import logging
import queue
import random
import socket

import pytest

from actors.runtime.backoff import Backoff
from actors.uplink.frames import HelloInfo
from actors.uplink.settings import UplinkSettings
from actors.uplink.stream_adapter import CloudStreamAdapter, channel_options
from actors.uplink.tls import TlsFiles
from actors.uplink.token_source import TokenSource, TokenUnavailableError
from sim.cloud.pki import mint_pki
from sim.cloud.token_server import TokenEndpoint

SECRET = "s3cr3t-value-never-logged"


class Clock:
    def __init__(self, now=0.0):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return mint_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def creds(tmp_path):
    (tmp_path / "id").write_text("cluster-1")
    (tmp_path / "secret").write_text(SECRET)
    return str(tmp_path / "id"), str(tmp_path / "secret")


@pytest.fixture
def endpoint(pki):
    ep = TokenEndpoint(cert_file=str(pki.server_cert), key_file=str(pki.server_key),
                       clients={"cluster-1": SECRET}, token_ttl_s=300).start()
    yield ep
    ep.stop()


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_token_is_cached_and_refreshed_before_expiry(pki, creds, endpoint):
    clock = Clock(1_000_000.0)
    source = TokenSource(token_url=endpoint.url, client_id_file=creds[0],
                         client_secret_file=creds[1], ca_file=str(pki.ca_cert),
                         scope="telemetry:write", leeway_s=60, clock=clock)
    first = source.token()
    clock.now += 200
    assert source.token() == first
    assert source.fetches == 1
    clock.now += 41                      # 241 s: inside the 60 s leeway of a 300 s token
    assert source.token() != first
    assert source.fetches == 2
    assert endpoint.tokens.issued == 2
    # while a stream is open the token is renewed ahead of expiry, rate-limited on failure
    assert source.refresh_ahead() is False            # fresh: nothing to do
    clock.now += 250
    assert source.refresh_ahead() is True
    assert source.fetches == 3
    clock.now += 250
    endpoint.refuse = True
    assert source.refresh_ahead() is False            # failed, counted, not raised
    assert source.refresh_ahead() is False            # and not retried at once
    assert endpoint.refused == 1


def test_token_errors_are_clear_and_never_contain_the_secret(pki, creds, endpoint, caplog):
    caplog.set_level(logging.DEBUG)
    endpoint.clients["cluster-1"] = "rotated-elsewhere"
    source = TokenSource(token_url=endpoint.url, client_id_file=creds[0],
                         client_secret_file=creds[1], ca_file=str(pki.ca_cert))
    with pytest.raises(TokenUnavailableError, match="invalid_client"):
        source.token()
    endpoint.refuse = True
    with pytest.raises(TokenUnavailableError, match="503"):
        source.token()
    down = TokenSource(token_url=f"https://127.0.0.1:{_closed_port()}/oauth2/token",
                       client_id_file=creds[0], client_secret_file=creds[1],
                       ca_file=str(pki.ca_cert), timeout_s=2)
    with pytest.raises(TokenUnavailableError, match="unreachable"):
        down.token()
    assert source.failures == 2
    assert SECRET not in caplog.text
    assert SECRET not in repr(source)


def test_backoff_sequence_and_reset_with_an_injected_clock():
    clock = Clock()
    backoff = Backoff(min_s=0.5, max_s=4.0, reset_after_s=60.0, jitter=False, clock=clock)
    assert [backoff.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    backoff.healthy()
    clock.now += 30
    assert backoff.next_delay() == 4.0            # not healthy long enough: no reset
    backoff.healthy()
    clock.now += 61
    assert backoff.next_delay() == 0.5            # healthy for 61 s: starts over
    jittered = Backoff(min_s=0.5, max_s=4.0, clock=clock, rng=random.Random(7))
    delays = [jittered.next_delay() for _ in range(8)]
    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    assert all(0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len(set(delays)) == 8                  # full jitter, not a fixed ladder


def _no_hello() -> HelloInfo:
    raise AssertionError("no stream may open in these tests")


def _adapter(settings, pki, creds, token_url, clock, **tls_overrides):
    tls_paths = {"ca_file": str(pki.ca_cert), "cert_file": str(pki.client_cert),
                 "key_file": str(pki.client_key), **tls_overrides}
    tokens = TokenSource(token_url=token_url, client_id_file=creds[0],
                         client_secret_file=creds[1], ca_file=str(pki.ca_cert), timeout_s=2)
    backoff = Backoff(min_s=0.5, max_s=8.0, jitter=False, clock=clock)
    return CloudStreamAdapter(settings, tokens=tokens, tls=TlsFiles(**tls_paths),
                              hello=_no_hello, inbox=queue.Queue(8), backoff=backoff,
                              clock=clock)


def test_expired_client_certificate_backs_off_with_a_clear_error(pki, creds, caplog):
    clock = Clock()
    adapter = _adapter(UplinkSettings(server_address="127.0.0.1:1"), pki, creds,
                       "https://127.0.0.1:1/t", clock, cert_file=str(pki.expired_client_cert),
                       key_file=str(pki.expired_client_key))
    delays = [adapter._prepare() for _ in range(5)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert "client certificate" in adapter.last_error
    assert "expired at" in adapter.last_error
    counters = adapter.counters()
    assert counters["stream_tls_errors"] == 5
    assert counters["stream_connected"] == 0
    assert adapter._inbox.empty()                 # no stream was ever opened
    assert caplog.text.count("expired at") == 1   # logged once per change, not per attempt


def test_token_endpoint_down_backs_off_instead_of_crash_looping(pki, creds, caplog):
    clock = Clock()
    url = f"https://127.0.0.1:{_closed_port()}/oauth2/token"
    adapter = _adapter(UplinkSettings(server_address="127.0.0.1:1"), pki, creds, url, clock)
    delays = [adapter._prepare() for _ in range(4)]
    assert delays == [0.5, 1.0, 2.0, 4.0]
    assert adapter.last_error.startswith("token: token endpoint")
    assert "unreachable" in adapter.last_error
    assert adapter.counters()["stream_token_errors"] == 4
    assert SECRET not in caplog.text


def test_keepalive_options_respect_the_server_ping_policy():
    options = dict(channel_options(UplinkSettings(server_name="cloud.example")))
    assert int(options["grpc.keepalive_time_ms"]) >= 10_000   # sim/cloud permits pings every 10 s
    assert options["grpc.keepalive_permit_without_calls"] == 1
    assert options["grpc.http2.max_pings_without_data"] == 0
    assert options["grpc.ssl_target_name_override"] == "cloud.example"
