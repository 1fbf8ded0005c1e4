"""``KubeApiServer``: the simulated kube-apiserver's lifecycle, credentials and client files.

Owns the listening socket and its serving thread, the TLS material, the token table, and the
files clients need (kubeconfig, in-cluster token + ca.crt). ``start()`` binds 127.0.0.1 on an
ephemeral port; ``stop()`` ends open streams, closes idle keep-alive connections and joins every
handler thread; ``restart()`` does the same and comes back on the same port, optionally with the
watch history lost. Errors binding or minting certificates propagate from ``start()``.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import logging
import pathlib
import shutil
import socket
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

from sim.kubeapi import pki, rbac
from sim.kubeapi.cluster import SYSTEM_NAMESPACES, Cluster
from sim.kubeapi.controllers import Controllers
from sim.kubeapi.faults import FaultInjector
from sim.kubeapi.http_handler import ApiContext, ApiHandler
from sim.kubeapi.store import Obj, ObjectStore

logger = logging.getLogger(__name__)


class _HttpServer(http.server.ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], api: ApiContext,
                 tls: ssl.SSLContext | None) -> None:
        super().__init__(address, ApiHandler)
        self.api = api
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True,
                                          do_handshake_on_connect=False)
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._lock:
            open_now = list(self._connections)
        for connection in open_now:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("connection from %s failed: %s", client_address, sys.exc_info()[1])


class KubeApiServer:
    """A simulated Kubernetes API server on 127.0.0.1 (see the package docstring for usage)."""

    def __init__(self, cluster: Cluster | None = None, *, tls: bool = True,
                 host: str = "127.0.0.1", port: int = 0, bookmark_interval_s: float = 60.0,
                 history_limit: int = 10_000, log_interval_s: float = 1.0,
                 clock: Callable[[], float] = time.time,
                 workdir: pathlib.Path | None = None, controllers: bool = True) -> None:
        self.store = ObjectStore(history_limit=history_limit, clock=clock)
        self.access = rbac.AccessTable()
        self.tokens = self.access.add_defaults()
        self.faults = FaultInjector(self.store.wake_watchers)
        self.cluster = cluster
        if cluster is not None:
            cluster.load_into(self.store)
        else:
            for name in SYSTEM_NAMESPACES:
                self.store.create("namespaces", {"metadata": {"name": name},
                                                 "status": {"phase": "Active"}})
        self._own_workdir = workdir is None
        self.workdir = workdir or pathlib.Path(tempfile.mkdtemp(prefix="sim-kubeapi-"))
        self._tls_files = pki.mint(self.workdir / "pki") if tls else None
        self._stopping = threading.Event()
        self._context = ApiContext(self.store, self.access, self.faults, bookmark_interval_s,
                                   log_interval_s, self._stopping)
        self.controllers = Controllers(self.store) if controllers else None
        self._host, self._port = host, port
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle
    def start(self) -> KubeApiServer:
        if self._httpd is not None:
            raise RuntimeError("server already started")
        self._stopping.clear()
        context = None
        if self._tls_files is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self._tls_files.cert_file, self._tls_files.key_file)
        self._httpd = _HttpServer((self._host, self._port), self._context, context)
        self._port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={
            "poll_interval": 0.1}, name=f"sim-kubeapi-{self._port}", daemon=True)
        self._thread.start()
        if self.controllers is not None:
            self.controllers.start()
        logger.info("simulated kube-apiserver listening on %s", self.url)
        return self

    def stop(self) -> None:
        self._shutdown_http()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def restart(self, *, lose_history: bool = True) -> None:
        """Stop serving (dropping every stream), then serve again on the same port."""
        self._shutdown_http()
        if lose_history:
            self.store.compact()
        self.start()

    def _shutdown_http(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        if self.controllers is not None:
            self.controllers.stop()
        self._stopping.set()
        self.store.wake_watchers()
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()  # joins handler threads (block_on_close)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> KubeApiServer:
        return self.start() if self._httpd is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -------------------------------------------------------------- access
    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        scheme = "https" if self._tls_files is not None else "http"
        return f"{scheme}://{self._host}:{self._port}"

    @property
    def ca_file(self) -> str | None:
        return str(self._tls_files.ca_file) if self._tls_files is not None else None

    def ground_truth(self) -> dict[str, list[Obj]]:
        return self.store.ground_truth()

    def write_kubeconfig(self, path: pathlib.Path | str, token: str | None = None, *,
                         context: str = "sim", namespace: str = "default") -> pathlib.Path:
        """Write a kubeconfig (JSON, which is valid YAML) for ``token`` (default: admin)."""
        cluster: dict[str, Any] = {"server": self.url}
        if self.ca_file:
            cluster["certificate-authority"] = self.ca_file
        config = {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": context, "cluster": cluster}],
            "users": [{"name": context, "user": {"token": token or self.tokens.admin}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context,
                                                       "namespace": namespace}}],
            "current-context": context,
        }
        target = pathlib.Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(config, indent=2))
        target.chmod(0o600)
        return target

    def write_in_cluster_files(self, directory: pathlib.Path | str, token: str | None = None,
                               namespace: str = "kestrel-system") -> dict[str, str]:
        """Write ``token``, ``ca.crt`` and ``namespace`` like a projected service-account
        volume; returns the KUBERNETES_SERVICE_HOST/PORT environment a pod would see."""
        target = pathlib.Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        (target / "token").write_text(token or self.tokens.read_only)
        (target / "namespace").write_text(namespace)
        if self._tls_files is not None:
            shutil.copyfile(self._tls_files.ca_file, target / "ca.crt")
        return {"KUBERNETES_SERVICE_HOST": self._host,
                "KUBERNETES_SERVICE_PORT": str(self._port),
                "KUBERNETES_SERVICE_PORT_HTTPS": str(self._port)}
