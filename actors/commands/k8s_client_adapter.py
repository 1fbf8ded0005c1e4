"""HTTP transport to the Kubernetes API server for the command executors (stdlib http.client).

``HttpKubeTransport`` implements ``k8s_request.KubeTransport``: HTTPS with the cluster CA (or a
plain-HTTP endpoint only when explicitly allowed, for loopback simulators), a bearer token read
from the token file on every request (projected tokens rotate) or given in settings, bounded
reads (at most ``max_bytes``, then ``truncated=True`` and the connection is dropped) and a
per-request timeout. Any connection, TLS or protocol failure raises
``KubeTransportFailureError`` whose text never contains the token. ``KubeEndpoint.in_cluster``
builds the endpoint from the service-account mount and the KUBERNETES_SERVICE_* variables.
"""

from __future__ import annotations

import dataclasses
import http.client
import pathlib
import ssl
import urllib.parse
from collections.abc import Mapping

from actors.commands.k8s_request import KubeTransportFailureError, TransportResponse

__all__ = ["HttpKubeTransport", "KubeEndpoint"]

_SERVICE_ACCOUNT = pathlib.Path("/var/run/secrets/kubernetes.io/serviceaccount")
_CHUNK = 65536


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class KubeEndpoint:
    """Where the API server is and how to authenticate (a kubeconfig-like settings object)."""

    server: str                      # https://host:port (http:// only with allow_plain_http)
    ca_path: str = ""                # PEM bundle; empty → system trust store
    token_path: str = ""             # re-read on every request
    token: str = dataclasses.field(default="", repr=False)  # static token (tests, kubeconfig)
    allow_plain_http: bool = False   # loopback simulators only

    @classmethod
    def in_cluster(cls, environ: Mapping[str, str],
                   root: pathlib.Path = _SERVICE_ACCOUNT) -> KubeEndpoint:
        host = environ.get("KUBERNETES_SERVICE_HOST", "")
        port = environ.get("KUBERNETES_SERVICE_PORT", "443")
        if not host:
            raise ValueError("KUBERNETES_SERVICE_HOST is not set: not running in a cluster")
        host = f"[{host}]" if ":" in host else host
        return cls(server=f"https://{host}:{port}", ca_path=str(root / "ca.crt"),
                   token_path=str(root / "token"))


class HttpKubeTransport:
    """One short-lived connection per request; safe to call from several threads."""

    def __init__(self, endpoint: KubeEndpoint) -> None:
        parts = urllib.parse.urlsplit(endpoint.server)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(f"bad API server URL {endpoint.server!r}")
        if parts.scheme == "http" and not endpoint.allow_plain_http:
            raise ValueError("plain http:// to the API server needs allow_plain_http")
        self._endpoint = endpoint
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._context: ssl.SSLContext | None = None
        if parts.scheme == "https":
            self._context = ssl.create_default_context(cafile=endpoint.ca_path or None)

    def request(self, method: str, path: str, *, body: bytes | None = None,
                content_type: str | None = None, accept: str = "application/json",
                timeout_s: float, max_bytes: int) -> TransportResponse:
        headers = {"Accept": accept, "User-Agent": "kestrel-operator/commands"}
        token = self._token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if content_type:
            headers["Content-Type"] = content_type
        connection = self._connect(timeout_s)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            data, truncated = _read_bounded(response, max_bytes)
            return TransportResponse(status=response.status,
                                     content_type=response.getheader("Content-Type") or "",
                                     body=data, truncated=truncated)
        except (OSError, http.client.HTTPException) as exc:
            raise KubeTransportFailureError(f"{type(exc).__name__}: {_describe(exc)}") from None
        finally:
            connection.close()

    def _connect(self, timeout_s: float) -> http.client.HTTPConnection:
        if self._context is not None:
            return http.client.HTTPSConnection(self._host, self._port, timeout=timeout_s,
                                               context=self._context)
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout_s)

    def _token(self) -> str:
        if self._endpoint.token_path:
            try:
                return pathlib.Path(self._endpoint.token_path).read_text().strip()
            except OSError as exc:
                raise KubeTransportFailureError(
                    f"cannot read the service-account token: {exc.strerror}") from None
        return self._endpoint.token


def _read_bounded(response: http.client.HTTPResponse, max_bytes: int) -> tuple[bytes, bool]:
    data = bytearray()
    while len(data) <= max_bytes:
        chunk = response.read(min(_CHUNK, max_bytes + 1 - len(data)))
        if not chunk:
            return bytes(data), False
        data.extend(chunk)
    return bytes(data[:max_bytes]), True


def _describe(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or "no details"
    return str(text)[:300]
