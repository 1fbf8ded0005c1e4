"""The HTTP adapter against a tiny local stdlib API server (127.0.0.1, ephemeral port)."""

import datetime
import json
import random
import ssl
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from actors.kube.converters import RESOURCES
from actors.kube.errors import (
    ApiUnavailableError,
    KubeApiError,
    KubeTransportError,
    ResourceExpiredError,
    TooManyRequestsError,
)
from actors.kube.kube_http_adapter import KubeHttpAdapter
from actors.kube.watch_state import CREATE, DELETE, UPDATE, Phase, WatchState
from actors.runtime.backoff import Backoff
from unit_tests.kube import k8s_objects as k

TOKEN = "t0k"
PODS = [k.pod(f"p{i}", rv=str(10 + i)) for i in range(5)]


def status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[Any] = []

    def log_message(self, *args):
        pass

    def _json(self, code, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        Handler.seen.append((url.path, query, self.headers.get("Authorization")))
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._json(401, status(401, "Unauthorized", "Unauthorized"))
        if url.path == "/api/v1/pods" and query.get("watch") == "true":
            return self._watch()
        if url.path == "/api/v1/pods":
            if query.get("continue") == "expired":
                return self._json(410, status(410, "Expired", "continue token expired"))
            start = int(query.get("continue") or 0)
            limit = int(query["limit"])
            items = PODS[start:start + limit]
            meta: dict[str, Any] = {"resourceVersion": "100"}
            if start + limit < len(PODS):
                meta["continue"] = str(start + limit)
                meta["remainingItemCount"] = len(PODS) - start - limit
            return self._json(200, {"kind": "PodList", "apiVersion": "v1", "metadata": meta,
                                    "items": items})
        if url.path == "/apis/apps/v1/deployments":
            return self._json(429, status(429, "TooManyRequests", "slow down"),
                              [("Retry-After", "3")])
        if url.path == "/api/v1/nodes":
            return self._json(503, status(503, "ServiceUnavailable", "etcd"))
        if url.path.endswith("/log"):
            text = "".join(f"line {i} {json.dumps(query, sort_keys=True)}\n" for i in range(50))
            data = text.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return None
        return self._json(404, status(404, "NotFound", f"{url.path} not found"))

    def _watch(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        changed = k.with_rv(PODS[0], "101")
        changed["status"]["podIP"] = "10.9.9.9"
        events = [k.ev("MODIFIED", changed),
                  k.ev("BOOKMARK", {"kind": "Pod", "apiVersion": "v1",
                                    "metadata": {"resourceVersion": "105"}}),
                  k.ev("DELETED", k.with_rv(PODS[1], "106"))]
        for event in events:
            data = json.dumps(event).encode() + b"\n"
            # split each event over two chunks: lines must be reassembled
            for part in (data[:7], data[7:]):
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")
        self.close_connection = True


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    Handler.seen = []
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def adapter_for(httpd, token=TOKEN, scheme="http", ca_file=None):
    host, port = httpd.server_address[:2]
    return KubeHttpAdapter(f"{scheme}://{host}:{port}", lambda: token, ca_file=ca_file,
                           timeout_s=5.0)


def test_paginated_list_then_watch_drive_the_state_machine(server):
    api = adapter_for(server)
    clock = lambda: 0.0  # noqa: E731
    state = WatchState(RESOURCES["pods"], Backoff(clock=clock, rng=random.Random(0)), clock)
    deltas = []
    for _ in range(10):
        step = state.next_step()
        if step.phase is not Phase.LIST:
            break
        deltas += state.on_list_body(api.list_page("/api/v1/pods", limit=2,
                                                   continue_token=step.continue_token))
    assert [q.get("continue") for _, q, _ in Handler.seen] == [None, "2", "4"]
    assert len([d for d in deltas if d[0] == CREATE and d[1] == "Pod"]) == 5
    step = state.next_step()
    assert step.phase is Phase.WATCH
    assert step.resource_version == "100"
    events = []
    for line in api.watch("/api/v1/pods", resource_version=step.resource_version,
                          timeout_seconds=60):
        events += state.on_watch_line(line)
    state.on_watch_closed()
    assert [(op, key[0], key[2]) for op, _, key, _ in events] == [
        (UPDATE, "Pod", "p0"), (DELETE, "Pod", "p1"), (DELETE, "BarePod", "p1")]
    query = Handler.seen[-1][1]
    assert query == {"watch": "true", "resourceVersion": "100", "timeoutSeconds": "60",
                     "allowWatchBookmarks": "true"}
    assert state.next_step().resource_version == "106"


def test_errors_are_typed(server):
    api = adapter_for(server)
    with pytest.raises(ResourceExpiredError):
        api.list_page("/api/v1/pods", limit=2, continue_token="expired")
    with pytest.raises(TooManyRequestsError) as throttled:
        api.list_page("/apis/apps/v1/deployments", limit=2)
    assert throttled.value.retry_after_s == 3.0
    with pytest.raises(ApiUnavailableError):
        api.list_page("/api/v1/nodes", limit=2)
    with pytest.raises(KubeApiError) as missing:
        api.list_page("/api/v1/nothing", limit=2)
    assert missing.value.code == 404
    assert missing.value.reason == "NotFound"
    with pytest.raises(KubeApiError) as denied:
        adapter_for(server, token="wrong").list_page("/api/v1/pods", limit=1)
    assert denied.value.code == 401


def test_pod_log_parameters_and_byte_limit(server):
    api = adapter_for(server)
    body = api.pod_log("shop", "web", container="app", tail_lines=20, previous=True,
                       limit_bytes=100, timestamps=True)
    assert len(body) == 100
    path, query, auth = Handler.seen[-1]
    assert path == "/api/v1/namespaces/shop/pods/web/log"
    assert auth == f"Bearer {TOKEN}"
    assert query == {"container": "app", "tailLines": "20", "previous": "true",
                     "limitBytes": "100", "timestamps": "true"}


def test_connection_refused_is_a_transport_error():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = httpd.server_address[1]
    httpd.server_close()
    api = KubeHttpAdapter(f"http://127.0.0.1:{port}", lambda: TOKEN, timeout_s=2.0)
    with pytest.raises(KubeTransportError):
        api.list_page("/api/v1/pods", limit=1)


def test_bad_url_is_rejected():
    with pytest.raises(ValueError, match="unsupported"):
        KubeHttpAdapter("ftp://x", lambda: "")


def _self_signed(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    import ipaddress
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


def test_https_with_ca_file_and_bearer(server, tmp_path):
    cert, key = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    body = adapter_for(server, scheme="https", ca_file=cert).list_page("/api/v1/pods", limit=5)
    assert len(json.loads(body)["items"]) == 5
    with pytest.raises(KubeTransportError):   # unknown CA: refused, token never sent
        adapter_for(server, scheme="https").list_page("/api/v1/pods", limit=5)
