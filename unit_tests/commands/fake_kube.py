"""A fake ``KubeTransport``: canned responses by (method, path prefix), every call recorded."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from actors.commands.k8s_request import KubeTransportFailureError, TransportResponse

DISCOVERY = {
    "/api/v1": [("pods", "Pod", True), ("pods/log", "Pod", True), ("secrets", "Secret", True),
                ("configmaps", "ConfigMap", True), ("namespaces", "Namespace", False),
                ("services", "Service", True)],
    "/apis/apps/v1": [("deployments", "Deployment", True),
                      ("deployments/scale", "Scale", True)],
    "/apis/networking.k8s.io/v1": [("networkpolicies", "NetworkPolicy", True),
                                   ("ingressclasses", "IngressClass", False)],
    "/apis/rbac.authorization.k8s.io/v1": [("clusterroles", "ClusterRole", False)],
}


def status(code: int, reason: str, message: str,
           causes: list[dict[str, str]] | None = None) -> bytes:
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                            "code": code, "reason": reason, "message": message}
    if causes:
        body["details"] = {"causes": causes}
    return json.dumps(body).encode()


class FakeTransport:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.routes: list[tuple[str, str, Callable[[dict[str, Any]], TransportResponse]]] = []
        self.fail = False

    def on(self, method: str, prefix: str,
           responder: Callable[[dict[str, Any]], TransportResponse]) -> None:
        self.routes.insert(0, (method, prefix, responder))

    def json(self, method: str, prefix: str, document: Any, code: int = 200) -> None:
        body = json.dumps(document).encode()
        self.on(method, prefix, lambda call: TransportResponse(code, "application/json", body))

    def request(self, method: str, path: str, *, body: bytes | None = None,
                content_type: str | None = None, accept: str = "application/json",
                timeout_s: float, max_bytes: int) -> TransportResponse:
        call = {"method": method, "path": path, "body": body, "content_type": content_type,
                "timeout_s": timeout_s, "max_bytes": max_bytes}
        self.calls.append(call)
        if self.fail:
            raise KubeTransportFailureError("ConnectionRefusedError: Connection refused")
        if method == "GET" and path in DISCOVERY:
            resources = [{"name": n, "kind": k, "namespaced": ns} for n, k, ns in DISCOVERY[path]]
            return TransportResponse(200, "application/json",
                                     json.dumps({"kind": "APIResourceList",
                                                 "resources": resources}).encode())
        for route_method, prefix, responder in self.routes:
            if route_method == method and path.startswith(prefix):
                response = responder(call)
                if len(response.body) > max_bytes:
                    return TransportResponse(response.status, response.content_type,
                                             response.body[:max_bytes], truncated=True)
                return response
        return TransportResponse(404, "application/json",
                                 status(404, "NotFound", f"the server could not find {path}"))
