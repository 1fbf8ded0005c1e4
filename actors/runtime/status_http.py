"""The read-only status HTTP endpoint: /healthz, /readyz, /status (JSON) and /metrics.

``StatusServer`` runs a stdlib ``ThreadingHTTPServer`` in a daemon thread of the MAIN process
(never inside an actor). It asks ``provider()`` (e.g. ``OperatorSystem.status``) for a
``ComponentStatus`` tree; calls are serialized (a thespian ActorSystem is not thread-safe) and
the answer is reused for ``cache_s`` so a burst of probes costs one actor round trip.

- ``GET /healthz``: 200 when the provider answered, 503 when it returned None or failed;
- ``GET /readyz``: 200 when ``ready_check(status)`` returns no reasons, else 503 with them;
- ``GET /status``: the tree as JSON (``status_document``) with ``links`` and ``conservation_ok``;
- ``GET /metrics``: Prometheus text 0.0.4 (``actors.runtime.prometheus``).

Nothing changes state: other methods get 405, unknown paths 404. Bounded against slow or
hostile clients: HTTP/1.0 (one request per connection), the request head must arrive whole
within ``request_timeout_s`` and fit in ``MAX_HEAD_BYTES`` (else 408/431, or 414 for a long
request line), at most ``max_connections`` are served at once (the rest get 503 and are closed).
Every rejection is counted in ``StatusServer.counters``; nothing here raises into the caller
after ``start()``.
"""

from __future__ import annotations

import collections
import contextlib
import http.server
import io
import json
import logging
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from actors.runtime import prometheus
from actors.runtime.topology_model import RestartKind, Topology
from messages.runtime import ComponentState, ComponentStatus, LinkStatus

__all__ = ["MAX_HEAD_BYTES", "ReadyCheck", "StatusServer", "readiness_check", "status_document"]

logger = logging.getLogger(__name__)

MAX_REQUEST_LINE = 2048
MAX_HEAD_BYTES = 8192
StatusProvider = Callable[[], ComponentStatus | None]
ReadyCheck = Callable[[ComponentStatus], list[str]]


def readiness_check(topology: Topology | None = None) -> ReadyCheck:
    """Ready = every PERMANENT component RUNNING and every ``cloud_uplink/*`` connected.

    Without a topology every component in the tree must be RUNNING, except STOPPED ones
    (temporary or transient children that ended normally).
    """
    required = None if topology is None else sorted(
        cid for cid, spec in topology.components.items() if spec.restart is RestartKind.PERMANENT)

    def check(status: ComponentStatus) -> list[str]:
        nodes = {node.component_id: node for node in prometheus.iter_components(status)}
        wanted = required if required is not None else sorted(
            cid for cid, node in nodes.items() if node.state is not ComponentState.STOPPED)
        reasons = []
        for component_id in wanted:
            node = nodes.get(component_id)
            if node is None:
                reasons.append(f"{component_id}: missing from the status tree")
            elif node.state is not ComponentState.RUNNING:
                error = f", last error: {node.last_error}" if node.last_error else ""
                reasons.append(f"{component_id}: {node.state.value} "
                               f"(restarts {node.restarts}{error})")
        reasons.extend(f"{cid}: not connected to the cloud (counter connected != 1)"
                       for cid, node in sorted(nodes.items())
                       if node.component_type == "cloud_uplink"
                       and dict(node.counters).get("connected") != 1)
        return reasons

    return check


def status_document(status: ComponentStatus, ready_reasons: list[str]) -> dict[str, Any]:
    """The JSON body of ``GET /status``."""
    links = prometheus.all_links(status)
    return {
        "root": _component_document(status),
        "links": [_link_document(link) for link in links],
        "conservation_ok": all(prometheus.link_balanced(link) for link in links),
        "ready": not ready_reasons,
        "ready_reasons": ready_reasons,
    }


def _component_document(node: ComponentStatus) -> dict[str, Any]:
    return {
        "id": node.component_id, "type": node.component_type, "state": node.state.value,
        "incarnation": node.incarnation, "pid": node.pid, "restarts": node.restarts,
        "last_error": node.last_error, "uptime_s": round(node.uptime_s, 3),
        "counters": {name: _json_number(value) for name, value in node.counters},
        "links": [_link_document(link) for link in node.links],
        "children": [_component_document(child) for child in node.children],
    }


def _link_document(link: LinkStatus) -> dict[str, Any]:
    return {
        "id": link.link_id, "from": link.producer_id, "to": link.consumer_id,
        "overflow": link.overflow.value, "window": link.window,
        "batches_in_flight": link.batches_in_flight, "in_flight": link.in_flight,
        "received": link.received, "forwarded": link.forwarded, "dropped": link.dropped,
        "balanced": prometheus.link_balanced(link),
    }


def _json_number(value: float) -> float | int | str:
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)  # JSON has no NaN/Infinity
    return int(value) if float(value).is_integer() else value


class _Snapshots:
    """Serialized, briefly cached provider calls (the actor system is not thread-safe)."""

    def __init__(self, provider: StatusProvider, cache_s: float, wait_s: float,
                 clock: Callable[[], float]) -> None:
        self._provider = provider
        self._cache_s = cache_s
        self._wait_s = wait_s
        self._clock = clock
        self._lock = threading.Lock()
        self._taken_at: float | None = None
        self._last: tuple[ComponentStatus | None, str] = (None, "no status yet")

    def get(self) -> tuple[ComponentStatus | None, str]:
        """(status, "") or (None, why not)."""
        if not self._lock.acquire(timeout=self._wait_s):
            return None, "the status provider is busy"
        try:
            now = self._clock()
            if self._taken_at is not None and now - self._taken_at < self._cache_s:
                return self._last
            try:
                status = self._provider()
            except Exception as error:  # noqa: BLE001 (a broken provider is a 503, not a crash)
                logger.warning("status provider failed: %s", error)
                status, reason = None, f"the status provider failed: {error}"
            else:
                reason = "" if status is not None else \
                    "the actor system did not answer within its timeout"
            self._taken_at, self._last = self._clock(), (status, reason)
            return self._last
        finally:
            self._lock.release()


class StatusServer:
    """The status endpoint in a daemon thread; ``start()`` binds, ``stop()`` closes."""

    def __init__(self, host: str, port: int, provider: StatusProvider,
                 ready_check: ReadyCheck | None = None, *, cache_s: float = 0.5,
                 provider_wait_s: float = 10.0, request_timeout_s: float = 5.0,
                 max_connections: int = 32, clock: Callable[[], float] = time.monotonic) -> None:
        self.counters: collections.Counter[str] = collections.Counter()
        self._snapshots = _Snapshots(provider, cache_s, provider_wait_s, clock)
        self._ready_check = ready_check or readiness_check()
        self._request_timeout_s = request_timeout_s
        self._slots = threading.BoundedSemaphore(max_connections)
        self._address = (host, port)
        self._httpd: _BoundedHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._httpd = _BoundedHTTPServer(self._address, _StatusHandler, self)
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="kestrel-status-http", daemon=True)
        self._thread.start()
        logger.info("status endpoint listening on http://%s:%d", *self.address)

    @property
    def address(self) -> tuple[str, int]:
        if self._httpd is None:
            return self._address
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    @property
    def port(self) -> int:
        """The bound port (the real one after ``start()`` when 0 was asked for)."""
        return self.address[1]

    def stop(self, timeout_s: float = 5.0) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._httpd = None
        logger.info("status endpoint stopped")

    def __enter__(self) -> StatusServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def snapshot(self) -> ComponentStatus | None:
        """The (cached, serialized) provider answer: use it instead of calling the provider
        from another thread, so the actor system is only ever asked from one place at a time."""
        return self._snapshots.get()[0]

    def respond(self, path: str) -> tuple[int, str, bytes]:
        """(HTTP status, content type, body) for a GET of ``path``."""
        route = path.split("?", 1)[0]
        if route not in ("/healthz", "/readyz", "/status", "/metrics"):
            return 404, "text/plain; charset=utf-8", b"not found\n"
        status, why_not = self._snapshots.get()
        if route == "/metrics":
            return 200, prometheus.CONTENT_TYPE, prometheus.render_metrics(status).encode()
        if status is None:
            if route == "/status":
                return 503, "application/json", json.dumps({"error": why_not}).encode()
            return 503, "text/plain; charset=utf-8", f"unavailable: {why_not}\n".encode()
        if route == "/healthz":
            return 200, "text/plain; charset=utf-8", b"ok\n"
        try:
            reasons = self._ready_check(status)
        except Exception as error:  # noqa: BLE001 (a broken check is "not ready", not a crash)
            logger.warning("readiness check failed: %s", error)
            reasons = [f"the readiness check failed: {error}"]
        if route == "/readyz":
            body = "ready\n" if not reasons else "not ready:\n" + "".join(
                f"- {reason}\n" for reason in reasons)
            return (503 if reasons else 200), "text/plain; charset=utf-8", body.encode()
        document = status_document(status, reasons)
        return 200, "application/json", json.dumps(document, indent=1).encode()


class _BoundedHTTPServer(http.server.ThreadingHTTPServer):
    """At most ``max_connections`` handler threads; the rest are refused at once."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], handler: type[_StatusHandler],
                 app: StatusServer) -> None:
        self.app = app
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(host): a reverse DNS lookup that can
        # hang startup when cluster DNS is broken. The name is only used in CGI variables.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.app._slots.acquire(blocking=False):
            self.app.counters["connections_refused"] += 1
            with contextlib.suppress(OSError):
                request.sendall(b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.app.counters["handler_errors"] += 1
        logger.warning("status request from %s failed: %r", client_address[0], sys.exc_info()[1])

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.app._slots.release()


class _StatusHandler(http.server.BaseHTTPRequestHandler):
    """Reads the whole request head under a deadline and a size cap, then routes it."""

    protocol_version = "HTTP/1.0"
    default_request_version = "HTTP/1.0"   # answer even a bare "BLAH" with a status line
    server_version = "kestrel-status"
    sys_version = ""
    server: _BoundedHTTPServer

    def handle_one_request(self) -> None:
        app = self.server.app
        self.close_connection = True
        self.requestline, self.request_version, self.command = "", "HTTP/1.0", ""
        try:
            head = self._read_head(app._request_timeout_s)
        except (TimeoutError, OSError):
            app.counters["requests_timed_out"] += 1
            return  # a slow or vanished client: just close (it may not be listening anyway)
        if head is None:
            app.counters["requests_too_large"] += 1
            self._send(431, "text/plain; charset=utf-8", b"request head too large\n")
            self._discard_input()
            return
        if not head:
            return
        request_line, _, rest = head.partition(b"\n")
        if len(request_line) > MAX_REQUEST_LINE:
            app.counters["requests_too_large"] += 1
            self._send(414, "text/plain; charset=utf-8", b"request line too long\n")
            self._discard_input()
            return
        self.raw_requestline = request_line + b"\n"
        self.rfile = io.BytesIO(rest)  # parse_request reads the headers from here
        if not self.parse_request():
            app.counters["requests_malformed"] += 1
            return
        if self.command not in ("GET", "HEAD"):
            app.counters["requests_not_allowed"] += 1
            self._send(405, "text/plain; charset=utf-8", b"method not allowed\n",
                       {"Allow": "GET, HEAD"})
            self._discard_input()
            return
        app.counters["requests_served"] += 1
        code, content_type, body = app.respond(self.path)
        self._send(code, content_type, body, head_only=self.command == "HEAD")

    def _read_head(self, timeout_s: float) -> bytes | None:
        """The request line and headers, or None when they exceed MAX_HEAD_BYTES."""
        deadline = time.monotonic() + timeout_s
        buffer = bytearray()
        connection: socket.socket = self.connection
        while b"\r\n\r\n" not in buffer and b"\n\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("request head not complete in time")
            connection.settimeout(remaining)
            chunk = connection.recv(4096)
            if not chunk:
                return bytes(buffer) if b"\n" in buffer else b""
            buffer += chunk
            if len(buffer) > MAX_HEAD_BYTES:
                return None
        return bytes(buffer)

    def _discard_input(self, limit: int = 65536, seconds: float = 0.1) -> None:
        """Read (bounded) what the client still sends: closing on unread data would reset the
        connection and could destroy the error response before the client reads it."""
        deadline = time.monotonic() + seconds
        received = 0
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_WR)
            while received < limit and (remaining := deadline - time.monotonic()) > 0:
                self.connection.settimeout(remaining)
                chunk = self.connection.recv(4096)
                if not chunk:
                    break
                received += len(chunk)

    def _send(self, code: int, content_type: str, body: bytes,
              headers: dict[str, str] | None = None, *, head_only: bool = False) -> None:
        try:
            # a client that stops reading must not pin this thread: bound the whole write
            self.connection.settimeout(self.server.app._request_timeout_s)
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if not head_only:
                self.wfile.write(body)
        except OSError as error:
            logger.debug("status client went away: %s", error)

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        text = f"{code} {message or self.responses.get(code, ('error',))[0]}\n"
        self._send(code, "text/plain; charset=utf-8", text.encode())

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("status http %s: %s", self.client_address[0], format % args)
