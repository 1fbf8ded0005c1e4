"""Request paths and verbs: ``/api/v1/namespaces/{ns}/pods/{name}/log`` -> a :class:`Route`.

Owns the mapping from (method, path, query) to the Kubernetes verb and resource coordinates the
handlers and RBAC use. Paths outside the resource tree (discovery, ``/version``...) yield
``None`` from :func:`parse_resource_path`; an unknown resource raises 404 like the real server.
"""

from __future__ import annotations

import dataclasses
import urllib.parse

from sim.kubeapi import resources, status


@dataclasses.dataclass(frozen=True, slots=True)
class Route:
    """Where a resource request points and which verb it is."""

    resource: resources.ResourceType
    version: str
    namespace: str  # "" for cluster-scoped kinds or all-namespace lists
    name: str
    subresource: str
    verb: str

    @property
    def rbac_resource(self) -> str:
        return self.resource.plural + (f"/{self.subresource}" if self.subresource else "")

    @property
    def api_version(self) -> str:
        return self.resource.api_version(self.version)


def query_params(raw_query: str) -> dict[str, str]:
    """First value of each query parameter (what the real server's decoder uses)."""
    params: dict[str, str] = {}
    for key, value in urllib.parse.parse_qsl(raw_query, keep_blank_values=True):
        params.setdefault(key, value)
    return params


def truthy(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "t", "yes", "y")


def _verb(method: str, name: str, params: dict[str, str]) -> str:
    if method in ("GET", "HEAD"):
        if name:
            return "get"
        return "watch" if truthy(params.get("watch")) else "list"
    verbs = {"POST": "create", "PUT": "update", "PATCH": "patch"}
    if method in verbs:
        return verbs[method]
    if method == "DELETE":
        return "delete" if name else "deletecollection"
    raise status.ApiError(405, f"the server does not allow this method on the requested "
                               f"resource ({method})")


def parse_resource_path(method: str, path: str, params: dict[str, str]) -> Route | None:
    parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
    if len(parts) >= 3 and parts[0] == "api" and parts[1] == "v1":
        group, version, rest = "", "v1", parts[2:]
    elif len(parts) >= 4 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3:
        nested = resources.lookup(group, version, rest[2])
        if nested is not None and nested.namespaced:
            namespace, rest = rest[1], rest[2:]
    plural = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    resource = resources.lookup(group, version, plural)
    if resource is None or len(rest) > 3:
        raise status.ApiError(404, "the server could not find the requested resource",
                              details={})
    if subresource and subresource not in resource.subresources:
        raise status.ApiError(404, "the server could not find the requested resource",
                              details={})
    if namespace and not resource.namespaced:
        raise status.ApiError(404, "the server could not find the requested resource",
                              details={})
    verb = _verb(method, name, params)
    return Route(resource, version, namespace, name, subresource, verb)
