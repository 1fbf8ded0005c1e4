"""The stdlib HTTP transport: TLS with a private CA, bearer token re-read per request, bounded
reads, and failures that never mention the token. Servers bind 127.0.0.1 on ephemeral ports."""

from __future__ import annotations

import contextlib
import datetime
import http.server
import ipaddress
import ssl
import threading
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from actors.commands.k8s_client_adapter import HttpKubeTransport, KubeEndpoint
from actors.commands.k8s_request import KubeTransportFailureError


class Handler(http.server.BaseHTTPRequestHandler):
    seen: list[dict[str, Any]] = []

    def do_GET(self):
        self.seen.append({"path": self.path, "auth": self.headers.get("Authorization")})
        body = b"x" * 5000 if self.path == "/big" else b'{"kind":"Status"}'
        self.send_response(404 if self.path == "/missing" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PATCH(self):
        length = int(self.headers["Content-Length"])
        self.seen.append({"path": self.path, "type": self.headers["Content-Type"],
                          "body": self.rfile.read(length)})
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serving(tls: dict[str, str] | None = None):
    Handler.seen = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls["cert"], tls["key"])
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def server():
    with serving() as httpd:
        yield httpd


def plain(httpd, **kwargs) -> HttpKubeTransport:
    port = httpd.server_address[1]
    return HttpKubeTransport(KubeEndpoint(server=f"http://127.0.0.1:{port}",
                                          allow_plain_http=True, **kwargs))


def test_token_file_is_read_on_every_request(server, tmp_path):
    token = tmp_path / "token"
    token.write_text("first\n")
    transport = plain(server, token_path=str(token))
    transport.request("GET", "/api/v1/pods", timeout_s=5, max_bytes=1000)
    token.write_text("second")
    response = transport.request("GET", "/missing", timeout_s=5, max_bytes=1000)
    assert [s["auth"] for s in Handler.seen] == ["Bearer first", "Bearer second"]
    assert response.status == 404
    assert response.content_type == "application/json"


def test_reads_are_bounded(server):
    response = plain(server).request("GET", "/big", timeout_s=5, max_bytes=1000)
    assert response.truncated
    assert len(response.body) == 1000
    whole = plain(server).request("GET", "/big", timeout_s=5, max_bytes=5000)
    assert not whole.truncated
    assert len(whole.body) == 5000


def test_patch_sends_body_and_content_type(server):
    response = plain(server, token="static").request(
        "PATCH", "/apis/apps/v1/x?dryRun=All", body=b"{}",
        content_type="application/apply-patch+yaml", timeout_s=5, max_bytes=100)
    assert response.status == 201
    assert Handler.seen[0]["type"] == "application/apply-patch+yaml"
    assert Handler.seen[0]["body"] == b"{}"


def test_failures_never_mention_the_token(tmp_path):
    transport = HttpKubeTransport(KubeEndpoint(server="http://127.0.0.1:9",
                                               allow_plain_http=True, token="sekret-token"))
    with pytest.raises(KubeTransportFailureError) as caught:
        transport.request("GET", "/version", timeout_s=2, max_bytes=100)
    assert "sekret-token" not in str(caught.value)
    assert "sekret-token" not in repr(transport._endpoint)


def test_plain_http_needs_an_explicit_opt_in():
    with pytest.raises(ValueError, match="allow_plain_http"):
        HttpKubeTransport(KubeEndpoint(server="http://127.0.0.1:1"))
    with pytest.raises(ValueError, match="not running in a cluster"):
        KubeEndpoint.in_cluster({})
    endpoint = KubeEndpoint.in_cluster({"KUBERNETES_SERVICE_HOST": "fd00::1"})
    assert endpoint.server == "https://[fd00::1]:443"
    assert endpoint.token_path.endswith("serviceaccount/token")


def _pki(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-sim")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return {"cert": str(cert_path), "key": str(key_path)}


@pytest.fixture
def tls_files(tmp_path_factory):
    return _pki(tmp_path_factory.mktemp("pki"))


def test_https_with_the_cluster_ca(tls_files):
    with serving(tls_files) as httpd:
        port = httpd.server_address[1]
        good = HttpKubeTransport(KubeEndpoint(server=f"https://127.0.0.1:{port}",
                                              ca_path=tls_files["cert"], token="t"))
        assert good.request("GET", "/version", timeout_s=5, max_bytes=100).status == 200
        untrusted = HttpKubeTransport(KubeEndpoint(server=f"https://127.0.0.1:{port}",
                                                   token="t"))
        with pytest.raises(KubeTransportFailureError):
            untrusted.request("GET", "/version", timeout_s=5, max_bytes=100)
    assert Handler.seen == [{"path": "/version", "auth": "Bearer t"}]
