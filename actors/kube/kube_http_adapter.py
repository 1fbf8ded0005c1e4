"""The only I/O of Kubernetes ingestion: LIST pages, WATCH streams and pods/log over HTTP(S).

Stdlib ``http.client`` with a bearer token (re-read on every request, because projected service
account tokens rotate) and a CA bundle; one connection per request, so a watch never shares a
socket with a list. Raw bytes go to the caller (``watch_state`` parses them):
- ``list_page`` → the body of one page (``limit`` + ``continue``);
- ``watch`` → an iterator of JSON lines from a chunked ``?watch=true`` response with
  ``allowWatchBookmarks`` and ``timeoutSeconds``; it ends when the server closes the stream;
  closing the iterator closes the socket;
- ``pod_log`` → text bytes (``tailLines``, ``previous``, ``limitBytes``, ``sinceSeconds``,
  ``timestamps``);
- ``abort()`` shuts down every open connection, so threads blocked in a watch return at once.
Non-2xx answers raise typed errors (``errors.error_from_status``: 410 → ResourceExpiredError,
429 → TooManyRequestsError with Retry-After, 5xx → ApiUnavailableError); network failures raise
``KubeTransportError``. Bodies are bounded by ``max_body_bytes``.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import pathlib
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Callable, Iterator

from actors.kube.errors import KubeApiError, KubeTransportError, error_from_status

__all__ = ["KubeHttpAdapter"]

_SA_DIR = pathlib.Path("/var/run/secrets/kubernetes.io/serviceaccount")


class KubeHttpAdapter:
    """Minimal Kubernetes API client for list, watch and pod logs."""

    def __init__(self, base_url: str, token: Callable[[], str], *, ca_file: str | None = None,
                 timeout_s: float = 30.0, max_body_bytes: int = 64 * 1024 * 1024) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"unsupported API server URL {base_url!r}")
        self.scheme = parsed.scheme
        self.host = parsed.hostname
        self.port = parsed.port or (443 if parsed.scheme == "https" else 80)
        self.token = token
        self.timeout_s = timeout_s
        self.max_body_bytes = max_body_bytes
        self._ssl: ssl.SSLContext | None = None
        self._open_conns: set[http.client.HTTPConnection] = set()
        self._conns_lock = threading.Lock()
        self._aborted = False
        if parsed.scheme == "https":
            self._ssl = ssl.create_default_context(cafile=ca_file)

    @classmethod
    def in_cluster(cls, timeout_s: float = 30.0) -> KubeHttpAdapter:
        """Service account token, CA and KUBERNETES_SERVICE_HOST/PORT of the pod."""
        host = os.environ.get("KUBERNETES_SERVICE_HOST", "")
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        if not host:
            raise ValueError("KUBERNETES_SERVICE_HOST is not set: not running in a pod")
        token_file = _SA_DIR / "token"
        return cls(f"https://{host}:{port}",
                   lambda: token_file.read_text(encoding="utf-8").strip(),
                   ca_file=str(_SA_DIR / "ca.crt"), timeout_s=timeout_s)

    # -- requests --------------------------------------------------------------------------
    def list_page(self, path: str, *, limit: int, continue_token: str = "",
                  field_selector: str = "") -> bytes:
        query = {"limit": str(limit)}
        if continue_token:
            query["continue"] = continue_token
        if field_selector:
            query["fieldSelector"] = field_selector
        response, conn = self._open(path, query, self.timeout_s)
        try:
            return self._read(response, self.max_body_bytes)
        finally:
            self._close(conn)

    def watch(self, path: str, *, resource_version: str, timeout_seconds: int,
              bookmarks: bool = True, field_selector: str = "") -> Iterator[bytes]:
        query = {"watch": "true", "timeoutSeconds": str(timeout_seconds)}
        if resource_version:
            query["resourceVersion"] = resource_version
        if bookmarks:
            query["allowWatchBookmarks"] = "true"
        if field_selector:
            query["fieldSelector"] = field_selector
        # the server ends the stream after timeoutSeconds; a socket idle for much longer than
        # that (bookmarks arrive about once a minute) is dead.
        response, conn = self._open(path, query, timeout_seconds + self.timeout_s)
        return self._lines(response, conn)

    def _lines(self, response: http.client.HTTPResponse,
               conn: http.client.HTTPConnection) -> Iterator[bytes]:
        try:
            while True:
                try:
                    line = response.readline(self.max_body_bytes + 1)
                except (OSError, http.client.HTTPException) as exc:
                    raise KubeTransportError(f"watch stream broke: {exc!r}") from exc
                if not line:
                    return
                if len(line) > self.max_body_bytes:
                    raise KubeTransportError("watch event larger than max_body_bytes")
                if line.strip():
                    yield line
        finally:
            self._close(conn)

    def pod_log(self, namespace: str, pod: str, *, container: str = "", tail_lines: int = 0,
                previous: bool = False, limit_bytes: int = 0, timestamps: bool = False,
                since_seconds: int = 0) -> bytes:
        query: dict[str, str] = {}
        if container:
            query["container"] = container
        if tail_lines:
            query["tailLines"] = str(tail_lines)
        if previous:
            query["previous"] = "true"
        if limit_bytes:
            query["limitBytes"] = str(limit_bytes)
        if timestamps:
            query["timestamps"] = "true"
        if since_seconds:
            query["sinceSeconds"] = str(since_seconds)
        path = f"/api/v1/namespaces/{urllib.parse.quote(namespace)}/pods/" \
               f"{urllib.parse.quote(pod)}/log"
        response, conn = self._open(path, query, self.timeout_s)
        try:
            # limitBytes is enforced by the kubelet; cut here too in case a proxy ignores it
            cap = limit_bytes if limit_bytes else self.max_body_bytes
            return response.read(cap)
        except (OSError, http.client.HTTPException) as exc:
            raise KubeTransportError(f"log stream broke: {exc!r}") from exc
        finally:
            self._close(conn)

    def abort(self) -> None:
        """Shut down every open connection (from any thread); later requests fail at once."""
        with self._conns_lock:
            self._aborted = True
            open_now = list(self._open_conns)
        for conn in open_now:
            sock = conn.sock
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    # -- internals -------------------------------------------------------------------------
    def _open(self, path: str, query: dict[str, str], timeout: float,
              ) -> tuple[http.client.HTTPResponse, http.client.HTTPConnection]:
        target = path + ("?" + urllib.parse.urlencode(query) if query else "")
        conn: http.client.HTTPConnection
        if self._ssl is not None:
            conn = http.client.HTTPSConnection(self.host, self.port, timeout=timeout,
                                               context=self._ssl)
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        with self._conns_lock:
            if self._aborted:
                raise KubeTransportError(f"GET {path}: the client was aborted")
            self._open_conns.add(conn)
        headers = {"Accept": "application/json", "User-Agent": "kestrel-operator"}
        try:
            token = self.token()
        except OSError as exc:
            self._close(conn)
            raise KubeTransportError(f"cannot read the service account token: {exc}") from exc
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            conn.request("GET", target, headers=headers)
            response = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            self._close(conn)
            raise KubeTransportError(f"GET {path}: {exc!r}") from exc
        if response.status >= 300:
            try:
                body = response.read(65536)
            except (OSError, http.client.HTTPException):
                body = b""
            self._close(conn)
            raise error_from_status(response.status, body, response.getheader("Retry-After"))
        return response, conn

    def _close(self, conn: http.client.HTTPConnection) -> None:
        with self._conns_lock:
            self._open_conns.discard(conn)
        conn.close()

    @staticmethod
    def _read(response: http.client.HTTPResponse, cap: int) -> bytes:
        try:
            body = response.read(cap + 1)
        except (OSError, http.client.HTTPException) as exc:
            raise KubeTransportError(f"response broke: {exc!r}") from exc
        if len(body) > cap:
            raise KubeApiError(413, "TooLarge", f"response larger than {cap} bytes")
        return body
