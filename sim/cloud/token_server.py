"""The simulated cloud's OAuth2 token endpoint: HTTPS, client_credentials, Basic client auth.

A real, spec-checked endpoint built on authlib's framework-agnostic
``rfc6749.AuthorizationServer`` (``invalid_client``, ``unsupported_grant_type``, scope checks and
``expires_in`` come from authlib) served by stdlib ``ThreadingHTTPServer`` over TLS with the
test CA's server certificate at ``POST /oauth2/token``. Issued tokens live in ``IssuedTokens``,
which the stream server consults per stream. Faults: ``refuse`` (answer 503
``temporarily_unavailable``), ``expire_all`` (every issued token expires now) and a configurable
lifetime. Stops cleanly with ``stop()``; never raises into request threads.
"""

from __future__ import annotations

import http.server
import json
import secrets
import ssl
import threading
import time
import urllib.parse
from typing import Any

from authlib.oauth2 import rfc6749
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6750 import BearerTokenGenerator

__all__ = ["IssuedTokens", "TokenEndpoint"]


class IssuedTokens:
    """Thread-safe store of issued access tokens and their expiry (wall-clock seconds)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}
        self.issued = 0

    def add(self, token: str, expires_at: float) -> None:
        with self._lock:
            self._tokens[token] = expires_at
            self.issued += 1

    def expires_at(self, token: str) -> float | None:
        with self._lock:
            return self._tokens.get(token)

    def expire_all(self) -> None:
        with self._lock:
            self._tokens = dict.fromkeys(self._tokens, 0.0)


class _Client(rfc6749.ClientMixin):  # type: ignore[misc]
    def __init__(self, client_id: str, secret: str) -> None:
        self.client_id, self._secret = client_id, secret

    def get_client_id(self) -> str:
        return self.client_id

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(self._secret, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "client_secret_basic"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"

    def get_allowed_scope(self, scope: str) -> str:
        allowed = {"telemetry:write", "commands"}
        return " ".join(s for s in (scope or "").split() if s in allowed)


class _Server(rfc6749.AuthorizationServer):  # type: ignore[misc]
    def __init__(self, endpoint: TokenEndpoint) -> None:
        super().__init__(scopes_supported=["telemetry:write", "commands"])
        self._endpoint = endpoint
        self.register_grant(grants.ClientCredentialsGrant)
        self.register_token_generator("default", BearerTokenGenerator(
            access_token_generator=lambda **_: secrets.token_urlsafe(24),
            expires_generator=lambda client, grant_type: int(endpoint.token_ttl_s)))

    def query_client(self, client_id: str) -> _Client | None:
        secret = self._endpoint.clients.get(client_id)
        return _Client(client_id, secret) if secret is not None else None

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        self._endpoint.tokens.add(token["access_token"], time.time() + token["expires_in"])

    def create_oauth2_request(self, request: Any) -> rfc6749.OAuth2Request:
        method, uri, headers, form = request
        oauth_request = rfc6749.OAuth2Request(method, uri, headers=headers)
        oauth_request.payload = rfc6749.requests.BasicOAuth2Payload(form)
        return oauth_request

    def create_json_request(self, request: Any) -> Any:
        raise NotImplementedError("the token endpoint takes form posts only")

    def handle_response(self, status: int, body: Any, headers: Any) -> tuple[int, Any, Any]:
        return status, body, headers

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None


class TokenEndpoint:
    """HTTPS ``POST /oauth2/token`` on 127.0.0.1 (ephemeral port unless given)."""

    def __init__(self, *, cert_file: str, key_file: str, clients: dict[str, str],
                 token_ttl_s: float = 300.0, port: int = 0) -> None:
        self.clients = dict(clients)
        self.token_ttl_s = token_ttl_s
        self.tokens = IssuedTokens()
        self.refuse = False
        self.requests = 0
        self.refused = 0
        self._server = _Server(self)
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                endpoint._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._httpd.daemon_threads = True
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="sim-token",
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self._httpd.server_address[1]}/oauth2/token"

    def start(self) -> TokenEndpoint:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def _handle(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        self.requests += 1
        if handler.path != "/oauth2/token":
            self._reply(handler, 404, {"error": "not_found"}, [])
            return
        if self.refuse:
            self.refused += 1
            self._reply(handler, 503, {"error": "temporarily_unavailable"}, [])
            return
        length = min(int(handler.headers.get("Content-Length") or 0), 65536)
        form = dict(urllib.parse.parse_qsl(handler.rfile.read(length).decode("utf-8")))
        request = ("POST", self.url, dict(handler.headers.items()), form)
        status, body, headers = self._server.create_token_response(request)
        self._reply(handler, status, body, headers)

    @staticmethod
    def _reply(handler: http.server.BaseHTTPRequestHandler, status: int, body: Any,
               headers: list[tuple[str, str]]) -> None:
        data = json.dumps(body).encode("utf-8")
        handler.send_response(status)
        for name, value in headers:
            if name.lower() != "content-type":
                handler.send_header(name, value)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
