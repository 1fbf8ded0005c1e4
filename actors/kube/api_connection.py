"""Where the Kubernetes API is and how to authenticate: component settings → ``KubeHttpAdapter``.

``ApiConnection.from_settings`` reads the connection keys shared by ``kube_watcher`` and
``pod_logs`` (``api_url``, ``token_file``, ``ca_file``, ``request_timeout``). An empty
``api_url`` means in-cluster: ``https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT``
with the service-account token and CA files (the defaults). The token file is re-read on every
request (projected tokens rotate); a missing token file makes each request fail with
``KubeTransportError`` (counted by the callers, retried with backoff), while a bad URL or an
unreadable CA bundle raises ``ValueError``/``OSError`` from ``adapter()`` so the component fails
its start with a clear reason. No sockets are opened here.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from collections.abc import Mapping
from typing import Any

from actors.kube.kube_http_adapter import KubeHttpAdapter

__all__ = ["SA_DIR", "ApiConnection"]

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


@dataclasses.dataclass(frozen=True, slots=True)
class ApiConnection:
    """API server URL (resolved), token file, CA file and the per-request timeout."""

    url: str
    token_file: str
    ca_file: str
    timeout_s: float

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any],
                      env: Mapping[str, str] | None = None) -> ApiConnection:
        environ = os.environ if env is None else env
        url = str(settings.get("api_url") or "")
        if not url:
            host = environ.get("KUBERNETES_SERVICE_HOST", "")
            port = environ.get("KUBERNETES_SERVICE_PORT", "443")
            if not host:
                raise ValueError("api_url is empty and KUBERNETES_SERVICE_HOST is not set: "
                                 "set api_url or run in a pod")
            url = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
        return cls(url=url, token_file=str(settings.get("token_file") or f"{SA_DIR}/token"),
                   ca_file=str(settings.get("ca_file") or f"{SA_DIR}/ca.crt"),
                   timeout_s=float(settings.get("request_timeout") or 30.0))

    def read_token(self) -> str:
        return pathlib.Path(self.token_file).read_text(encoding="utf-8").strip()

    def adapter(self) -> KubeHttpAdapter:
        """A client for this server (the CA bundle is loaded now, for https only)."""
        ca_file = self.ca_file if self.url.startswith("https") else None
        if ca_file is not None and not pathlib.Path(ca_file).is_file():
            raise ValueError(f"ca_file {ca_file!r} does not exist (needed for {self.url})")
        return KubeHttpAdapter(self.url, self.read_token, ca_file=ca_file,
                               timeout_s=self.timeout_s)
