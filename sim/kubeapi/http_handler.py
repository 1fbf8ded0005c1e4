"""The HTTP/1.1 request handler: auth, fault hooks, routing, and chunked streaming replies.

Owns the wire: reads each request (Content-Length or chunked body), applies armed faults,
authenticates the bearer token (401), serves discovery, authorises the verb (403), dispatches
to list/watch/get/write/log, and writes JSON or Status replies. Watches and followed logs are
``Transfer-Encoding: chunked`` streams written through :class:`ChunkedSink`. Unexpected
exceptions become a 500 Status and are logged; broken client connections end quietly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.server
import logging
import select
import socket
import ssl
import threading
import time
from typing import Any

from sim.kubeapi import (
    conversion,
    discovery,
    faults,
    listing,
    log_following,
    openapi,
    rbac,
    routing,
    scaling,
    status,
    tables,
    watching,
    writing,
)
from sim.kubeapi.store import ObjectStore, encode

logger = logging.getLogger(__name__)
JSON = "application/json"
# system:public-info-viewer lets anyone read these, as on a default kube-apiserver.
UNAUTHENTICATED_PATHS = ("/healthz", "/livez", "/readyz", "/version")


@dataclasses.dataclass(slots=True)
class ApiContext:
    """Everything a request handler needs from the server."""

    store: ObjectStore
    access: rbac.AccessTable
    faults: faults.FaultInjector
    bookmark_interval_s: float
    log_interval_s: float
    stopping: threading.Event


class ChunkedSink:
    """Writes a chunked reply on the handler's connection."""

    def __init__(self, handler: ApiHandler) -> None:
        self.handler = handler

    def write(self, data: bytes) -> None:
        if data:
            self.handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.handler.wfile.flush()

    def finish(self) -> None:
        self.handler.wfile.write(b"0\r\n\r\n")
        self.handler.wfile.flush()

    def abort(self) -> None:
        self.handler.close_connection = True
        with contextlib.suppress(OSError):
            self.handler.connection.shutdown(socket.SHUT_RDWR)

    def client_gone(self) -> bool:
        connection = self.handler.connection
        try:
            readable, _, _ = select.select([connection], [], [], 0)
        except (OSError, ValueError):
            return True
        if not readable:
            return False
        connection.setblocking(False)
        try:
            gone: bool = connection.recv(1) == b""
            return gone
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return False
        except OSError:
            return True
        finally:
            connection.setblocking(True)


class ApiHandler(http.server.BaseHTTPRequestHandler):
    """One connection's requests; the server object carries :class:`ApiContext` as ``api``."""

    protocol_version = "HTTP/1.1"
    server_version = "sim-kube-apiserver/1.33"

    @property
    def api(self) -> ApiContext:
        context: ApiContext = self.server.api  # type: ignore[attr-defined]
        return context

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    # ------------------------------------------------------------ plumbing
    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_body(self, code: int, body: bytes, content_type: str = JSON,
                  headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def start_stream(self, content_type: str) -> ChunkedSink:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        return ChunkedSink(self)

    def _handle(self) -> None:
        path, _, query = self.path.partition("?")
        try:
            params = routing.query_params(query)
            body = self._read_body()
            logger.debug("%s %s content-type=%s accept=%s", self.command, self.path,
                         self.headers.get("Content-Type"), self.headers.get("Accept"))
            self.api.faults.before_request(path)
            if path in UNAUTHENTICATED_PATHS and not self.headers.get("Authorization"):
                if path == "/version":
                    self.send_body(200, encode(discovery.VERSION_INFO))
                else:
                    self.send_body(200, b"ok", "text/plain; charset=utf-8")
                return
            identity = self.api.access.authenticate(self.headers.get("Authorization"))
            self._dispatch(path, params, body, identity)
        except status.ApiError as error:
            self.send_body(error.code, error.body(), headers=error.headers)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, TimeoutError):
            self.close_connection = True
        except Exception:
            logger.exception("internal error serving %s %s", self.command, self.path)
            self.send_body(500, status.ApiError(500, "internal error").body())

    def _dispatch(self, path: str, params: dict[str, str], body: bytes,
                  identity: rbac.Identity) -> None:
        document = None
        if self.command == "GET":
            document = discovery.document(path) or openapi.document(path)
        if document is not None:
            self.send_body(200, encode(document))
            return
        route = routing.parse_resource_path(self.command, path, params)
        if route is None:
            raise status.ApiError(404, "the server could not find the requested resource",
                                  details={})
        if route.subresource == "log" and self.command != "GET":
            raise status.ApiError(405, f"the server does not allow this method on the "
                                       f"requested resource ({self.command})")
        rbac.AccessTable.authorize(identity, route.verb, route.resource.group,
                                   route.rbac_resource, route.namespace, route.name)
        if route.subresource == "log":
            self._serve_log(route, params)
        elif route.subresource == "scale":
            code, scale = scaling.serve(self.api.store, route, body,
                                        self.headers.get("Content-Type", ""))
            self.send_body(code, encode(scale))
        elif route.verb == "list":
            self.send_body(200, listing.list_body(self.api.store, route, params,
                                                  self.headers.get("Accept")))
        elif route.verb == "watch":
            self._serve_watch(route, params, path)
        elif route.verb == "get":
            self._serve_get(route, params)
        else:
            self._serve_write(route, params, body, identity)

    # ------------------------------------------------------------- serving
    def _serve_get(self, route: routing.Route, params: dict[str, str]) -> None:
        item = self.api.store.get_stored(route.resource.storage, route.namespace, route.name)
        if item is None:
            raise status.not_found(route.resource.plural, route.resource.group, route.name)
        if tables.wants_table(self.headers.get("Accept")):
            self.send_body(200, encode(tables.table(
                [conversion.to_view(route.resource, item.obj)], route.resource,
                route.api_version, self.api.store.clock(), {"resourceVersion": str(item.rv)},
                params.get("includeObject", "Metadata"))))
            return
        self.send_body(200, listing.served_body(item, route.resource, route.api_version))

    def _serve_write(self, route: routing.Route, params: dict[str, str], body: bytes,
                     identity: rbac.Identity) -> None:
        writer = writing.WriteHandler(self.api.store, route, params, identity,
                                      self.headers.get("User-Agent", ""))
        writer.content_type = self.headers.get("Content-Type") or "application/json"
        if route.verb == "create":
            code, obj = writer.create(body)
        elif route.verb == "update":
            code, obj = writer.update(body)
        elif route.verb == "patch":
            code, obj = writer.patch(body, self.headers.get("Content-Type", ""))
        elif route.verb == "delete":
            code, obj = writer.delete(body)
        else:
            code, obj = writer.delete_collection()
        self.send_body(code, encode(obj))

    def _serve_watch(self, route: routing.Route, params: dict[str, str], path: str) -> None:
        options = watching.parse_options(params, self.headers.get("Accept"))
        stream = faults.OpenStream("watch", path)
        watch = watching.Watch(self.api.store, route, params, options,
                               bookmark_interval_s=self.api.bookmark_interval_s,
                               stream=stream, stopping=self.api.stopping.is_set)
        self.api.faults.register(stream)
        try:
            sink = self.start_stream(JSON)
            ended = watch.run(sink)
            logger.debug("watch %s ended: %s", path, ended)
            if ended != "dropped":
                sink.finish()
        finally:
            self.api.faults.unregister(stream)

    def _serve_log(self, route: routing.Route, params: dict[str, str]) -> None:
        request = log_following.LogRequest.resolve(self.api.store, route.namespace, route.name,
                                                   params, self.api.log_interval_s)
        text = "text/plain"
        initial = request.initial()
        if not request.follows:
            self.send_body(200, initial, text)
            return
        stream = faults.OpenStream("log", route.name)
        self.api.faults.register(stream)
        try:
            sink = self.start_stream(text)
            sink.write(initial)
            ended = request.follow(sink, stream, self.api.stopping.is_set, time.sleep)
            if ended != "dropped":
                sink.finish()
        finally:
            self.api.faults.unregister(stream)
